-- Notifications (core/src/notify, ops/notify.rs): a durable outbox derived from the log.
-- Each log entry gives at most one message per audience, keyed by (store, app, seq,
-- audience), so the same history always yields the same messages; `notify_cursor` is how
-- far each audience has been derived (a desktop that turns notifications on starts at the
-- head and does not replay history). Every delivery attempt is kept for `airlock notify log`.
CREATE TABLE notify_cursor (
    store    TEXT    NOT NULL,
    app      TEXT    NOT NULL,
    audience TEXT    NOT NULL,
    seq      INTEGER NOT NULL,
    PRIMARY KEY (store, app, audience)
);

CREATE TABLE notify_outbox (
    store      TEXT    NOT NULL,
    app        TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    audience   TEXT    NOT NULL,
    -- The message (notify::message::Message) as JSON.
    message    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    next_at    INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    -- due | sent | elsewhere (another desktop claimed it) | failed (gave up) | disabled
    status     TEXT    NOT NULL DEFAULT 'due',
    detail     TEXT    NOT NULL DEFAULT '',
    -- The token this desktop wrote into the store's claim object (empty: not claimed yet),
    -- so a sender that stopped between its claim and its first attempt knows its own claim.
    claim      TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (store, app, seq, audience)
);

CREATE TABLE notify_attempts (
    store      TEXT    NOT NULL,
    app        TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    audience   TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    status     INTEGER,
    latency_ms INTEGER NOT NULL,
    error      TEXT    NOT NULL DEFAULT ''
);

-- An audience whose receiver answered 410 Gone: nothing more is sent until it is set again.
CREATE TABLE notify_disabled (
    store    TEXT    NOT NULL,
    audience TEXT    NOT NULL,
    at       INTEGER NOT NULL,
    reason   TEXT    NOT NULL,
    PRIMARY KEY (store, audience)
);
