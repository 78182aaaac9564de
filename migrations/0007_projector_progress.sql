-- Where the projector has got to in the queue (docs/architecture.md, "Read models"): one row.
-- `sent_until`: the latest send time among the messages it has applied; `ran_at`: when it last
-- applied a batch. An object whose events stay unapplied re-sends them only once the projector is
-- past their send or idle, never while they may still be queued behind a backlog.
CREATE TABLE projector_progress (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  sent_until INTEGER NOT NULL,
  ran_at INTEGER NOT NULL
);
