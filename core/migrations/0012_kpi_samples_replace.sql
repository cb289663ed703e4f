-- KPI imports replace, never add (kpi/imports.rs): one value per app, channel, release,
-- counter and bucket end. Until now two exports whose hours overlapped were both kept and the
-- judge summed them, counting those hours twice. The rows stored so far are settled as an
-- import now settles them, keeping what each file said:
-- 1. a release and bucket one file repeated (imports now refuse that) was read as the sum of
--    its rows: it becomes one row holding that sum;
-- 2. across files, the latest import (by imported_at, then insertion order) keeps the key;
--    an older import's record stays, with fewer rows remaining.
UPDATE kpi_samples SET value = (
    SELECT SUM(d.value) FROM kpi_samples d
    WHERE d.import = kpi_samples.import AND d.app = kpi_samples.app
      AND d.channel = kpi_samples.channel AND d.version = kpi_samples.version
      AND d.counter = kpi_samples.counter AND d.at = kpi_samples.at)
WHERE rowid IN (
    SELECT MAX(rowid) FROM kpi_samples
    GROUP BY import, app, channel, version, counter, at HAVING COUNT(*) > 1);
DELETE FROM kpi_samples WHERE rowid NOT IN (
    SELECT MAX(rowid) FROM kpi_samples GROUP BY import, app, channel, version, counter, at);
DELETE FROM kpi_samples WHERE rowid IN (
    SELECT id FROM (
        SELECT s.rowid AS id, ROW_NUMBER() OVER (
            PARTITION BY s.app, s.channel, s.version, s.counter, s.at
            ORDER BY i.imported_at DESC, s.rowid DESC) AS n
        FROM kpi_samples s LEFT JOIN kpi_imports i ON i.sha256 = s.import)
    WHERE n > 1);
CREATE UNIQUE INDEX kpi_samples_one_value ON kpi_samples (app, channel, version, counter, at);
-- Removing an import (`airlock kpi import --remove`) and counting the rows it still holds.
CREATE INDEX kpi_samples_by_import ON kpi_samples (import, version, at);
