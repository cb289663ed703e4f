-- What this desktop has seen of each store: the newest entry of each app's log and the
-- newest key-set version. Unlike every other table this is not a projection: it is never
-- forgotten or rebuilt from the store, because it is what the store is checked against. A
-- shorter log, a different entry at a seen seq, or an older key set is refused as tampering
-- (core/src/ops/seen.rs); only `airlock recover` moves a log's mark to another chain.
CREATE TABLE seen_logs (
    store TEXT    NOT NULL,
    app   TEXT    NOT NULL,
    seq   INTEGER NOT NULL,
    hash  TEXT    NOT NULL,
    PRIMARY KEY (store, app)
);

CREATE TABLE seen_key_sets (
    store   TEXT    NOT NULL PRIMARY KEY,
    version INTEGER NOT NULL,
    hash    TEXT    NOT NULL
);
