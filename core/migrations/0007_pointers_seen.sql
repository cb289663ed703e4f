-- The newest pointer this desktop has written or read in each channel's store, so the
-- overview says whether a pointer is expiring or lags its log without asking the store
-- (core/src/views.rs). Filled by every pointer write and every sync; a cache like the rest.
CREATE TABLE pointers_seen (
    app         TEXT    NOT NULL,
    channel     TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    issued_at   TEXT    NOT NULL,
    expires_at  TEXT    NOT NULL,
    seen_at     TEXT    NOT NULL,
    PRIMARY KEY (app, channel)
);
