-- The manifest and signed statement of each release, as stored, fetched once by the
-- console's release page (core/src/detail.rs) and checked against the hashes in the log, so
-- reopening a release asks the store for nothing. A cache like known_blobs: rebuilt on demand.
CREATE TABLE release_objects (
    app        TEXT NOT NULL,
    version    TEXT NOT NULL,
    manifest   BLOB NOT NULL,
    statement  BLOB NOT NULL,
    PRIMARY KEY (app, version)
);
