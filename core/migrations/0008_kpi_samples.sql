-- KPI numbers imported from crash tools' exports (Crashlytics, Sentry): per release and time
-- bucket, read by the judge through kpi::samples::SampleSource. Unlike the rest of the
-- registry these are not derived from the log: a rebuild keeps them (Registry::forget does
-- not touch them). Each file is imported once, by the SHA-256 of its bytes.
CREATE TABLE kpi_imports (
    sha256      TEXT    PRIMARY KEY,
    file        TEXT    NOT NULL,
    app         TEXT    NOT NULL,
    channel     TEXT    NOT NULL,
    rows        INTEGER NOT NULL,
    imported_at TEXT    NOT NULL
);
CREATE TABLE kpi_samples (
    app         TEXT    NOT NULL,
    channel     TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    counter     TEXT    NOT NULL,
    -- When the bucket ends, in Unix seconds: its counts fall in the judge's bin that holds it.
    at          INTEGER NOT NULL,
    value       REAL    NOT NULL,
    import      TEXT    NOT NULL REFERENCES kpi_imports (sha256)
);
CREATE INDEX kpi_samples_by_series ON kpi_samples (app, channel, counter, version, at);
