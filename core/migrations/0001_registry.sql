-- The registry: a projection of each app's event log. Every row here can be rebuilt from
-- the store with `airlock sync`; nothing in this database is the source of truth.

-- The log entries as stored (exact bytes), so the state can be folded without the store.
CREATE TABLE events (
    app     TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    hash    TEXT    NOT NULL,
    at      TEXT    NOT NULL,
    actor   TEXT    NOT NULL,
    kind    TEXT    NOT NULL,
    reason  TEXT,
    body    BLOB    NOT NULL,
    PRIMARY KEY (app, seq)
);

CREATE TABLE releases (
    app                 TEXT    NOT NULL,
    version             TEXT    NOT NULL,
    author              TEXT    NOT NULL,
    released_at         TEXT    NOT NULL,
    first_channel       TEXT    NOT NULL,
    bundle_hash         TEXT    NOT NULL,
    manifest_sha256     TEXT    NOT NULL,
    statement_sha256    TEXT    NOT NULL,
    files               INTEGER NOT NULL,
    bytes               INTEGER NOT NULL,
    min_native_version  TEXT,
    quarantined_at      TEXT,
    quarantine_reason   TEXT,
    PRIMARY KEY (app, version)
);

-- Status per release and channel: staged, rolling-out, current, rollback-ready, reverted,
-- archived or quarantined.
CREATE TABLE release_channels (
    app           TEXT    NOT NULL,
    version       TEXT    NOT NULL,
    channel       TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    basis_points  INTEGER,
    paused        INTEGER NOT NULL DEFAULT 0,
    since         TEXT    NOT NULL,
    since_seq     INTEGER NOT NULL,
    PRIMARY KEY (app, version, channel)
);

CREATE TABLE channels (
    app              TEXT    NOT NULL,
    channel          TEXT    NOT NULL,
    current_version  TEXT,
    rollout_version  TEXT,
    basis_points     INTEGER,
    rollout_id       TEXT,
    paused           INTEGER NOT NULL DEFAULT 0,
    served_seq       INTEGER,
    PRIMARY KEY (app, channel)
);

CREATE TABLE approvals (
    app      TEXT NOT NULL,
    version  TEXT NOT NULL,
    channel  TEXT NOT NULL,
    actor    TEXT NOT NULL,
    at       TEXT NOT NULL,
    PRIMARY KEY (app, version, channel, actor)
);

-- Blobs known to be in a store (uploaded or verified by this registry), so a publish skips
-- them without a request.
CREATE TABLE known_blobs (
    store   TEXT    NOT NULL,
    sha256  TEXT    NOT NULL,
    size    INTEGER NOT NULL,
    PRIMARY KEY (store, sha256)
);
