-- CloudFront access logs read for the KPIs (core/src/ops/cdn_logs.rs): each file once, by its
-- store and key, with what it held; and its per-minute counts. Like kpi_samples these are
-- not derived from the log, so a registry rebuild keeps them.
CREATE TABLE cdn_log_files (
    store        TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    read_at      TEXT    NOT NULL,
    lines        INTEGER NOT NULL,
    counted      INTEGER NOT NULL,
    unattributed INTEGER NOT NULL,
    malformed    INTEGER NOT NULL,
    -- The first malformed lines as JSON [{line, reason}], or why the file could not be read
    -- at all (then nothing of it was counted).
    problems     TEXT    NOT NULL,
    PRIMARY KEY (store, key)
);
-- Per minute (`at`: the minute's end, Unix seconds), per series: downloads and download
-- failures per release, update checks and their errors per channel (`version` empty).
CREATE TABLE cdn_samples (
    app      TEXT    NOT NULL,
    channel  TEXT    NOT NULL,
    version  TEXT    NOT NULL,
    counter  TEXT    NOT NULL,
    at       INTEGER NOT NULL,
    value    REAL    NOT NULL,
    store    TEXT    NOT NULL,
    key      TEXT    NOT NULL
);
CREATE INDEX cdn_samples_by_series ON cdn_samples (app, channel, counter, version, at);
