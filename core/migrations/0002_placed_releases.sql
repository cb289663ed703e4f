-- Releases known to be complete (blobs, manifest and statement) in a store other than the
-- one they were released into, because a promotion copied them there. Like known_blobs it
-- caches facts about stores, not the log, so pointer writes need not re-check the copy.
CREATE TABLE placed_releases (
    store     TEXT NOT NULL,
    app       TEXT NOT NULL,
    version   TEXT NOT NULL,
    statement TEXT NOT NULL,
    PRIMARY KEY (store, app, version)
);
