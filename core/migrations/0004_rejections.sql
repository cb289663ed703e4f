-- Rejections of a release for a protected channel (`airlock reject`, with a reason), and the
-- seq of each approval, so the approvals inbox can tell an approval given after a rejection
-- from one it overrode. Rebuilt from the log by `airlock sync` like every other table here.
CREATE TABLE rejections (
    app      TEXT    NOT NULL,
    version  TEXT    NOT NULL,
    channel  TEXT    NOT NULL,
    actor    TEXT    NOT NULL,
    at       TEXT    NOT NULL,
    reason   TEXT    NOT NULL,
    seq      INTEGER NOT NULL,
    PRIMARY KEY (app, seq)
);
ALTER TABLE approvals ADD COLUMN seq INTEGER;
