-- The fills a settled job paid (from JobSettled's payouts). A market's trade count, volume and last
-- price count only these: a fill that lapsed, was re-matched away, lost a vote or was refunded was
-- matched but never traded.
CREATE TABLE paid_fills (
  job_id TEXT NOT NULL,
  replica INTEGER NOT NULL,
  provider TEXT NOT NULL,
  PRIMARY KEY (job_id, replica, provider)
);
