-- Each app's folded state at the registry's newest entry, so a command or a sync folds only
-- the entries the store has beyond it instead of the whole log (core/src/ops/commit.rs,
-- `load`). A cache like the projection tables: written in the same transaction as the
-- entries it folds, used only while its head is the registry's newest entry and its policy
-- (the protected channels it was checked under) is the workspace's, else folded again.
CREATE TABLE app_states (
    app        TEXT    NOT NULL PRIMARY KEY,
    head_seq   INTEGER NOT NULL,
    head_hash  TEXT    NOT NULL,
    policy     TEXT    NOT NULL,
    format     INTEGER NOT NULL,
    body       BLOB    NOT NULL
);
