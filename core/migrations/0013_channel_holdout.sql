-- The randomized holdout a channel keeps after a release became current (docs/KPIS.md, "The
-- holdout"): the release it keeps, the share of devices (basis points) and when it ends. NULL
-- for a channel without one; entries written before holdouts existed set none.
ALTER TABLE channels ADD COLUMN holdout_version TEXT;
ALTER TABLE channels ADD COLUMN holdout_basis_points INTEGER;
ALTER TABLE channels ADD COLUMN holdout_until TEXT;
