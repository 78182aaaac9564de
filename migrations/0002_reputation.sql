-- Provider reputation, projected from job events: verified work paid, leases let lapse, results
-- outvoted (or lost to a challenge).
CREATE TABLE providers (
  provider TEXT PRIMARY KEY,
  completed INTEGER NOT NULL DEFAULT 0,
  lapsed INTEGER NOT NULL DEFAULT 0,
  rejected INTEGER NOT NULL DEFAULT 0
);
