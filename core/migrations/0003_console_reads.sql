-- What the console's screens read without asking the store (core/src/views.rs): each
-- rollout's plan, step and when the step began, and each event's version and channel so the
-- log can be filtered. Rows written before this migration have NULLs here until
-- `airlock sync` rebuilds the projection (events keep their exact bytes either way).
ALTER TABLE channels ADD COLUMN plan TEXT;
ALTER TABLE channels ADD COLUMN step INTEGER;
ALTER TABLE channels ADD COLUMN step_started_at TEXT;
ALTER TABLE channels ADD COLUMN step_started_seq INTEGER;
ALTER TABLE events ADD COLUMN version TEXT;
ALTER TABLE events ADD COLUMN channel TEXT;
CREATE INDEX events_by_app_seq_desc ON events (app, seq DESC);
