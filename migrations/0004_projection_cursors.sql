-- How far the read models have applied each object's log (docs/architecture.md, "Read models").
-- `seq`: every event up to it is applied, with no gap; `head`: the highest sequence the object has
-- announced. An object re-sends from `seq` what stays unapplied; the audit reports `head - seq`.
CREATE TABLE projection_cursors (
  object TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  head INTEGER NOT NULL
);
