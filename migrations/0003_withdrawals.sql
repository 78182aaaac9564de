-- Withdrawals, projected from each withdrawal object's view: an account's list, and the amounts in
-- flight (taken from the ledger, not yet paid or refunded) for reconciliation with custody.
CREATE TABLE withdrawals (
  id TEXT PRIMARY KEY,
  account TEXT NOT NULL,
  destination TEXT NOT NULL,
  amount TEXT NOT NULL,
  status TEXT NOT NULL,
  signature TEXT,
  view TEXT NOT NULL,
  requested_at INTEGER NOT NULL,
  updated_seq INTEGER NOT NULL
);
CREATE INDEX withdrawals_account ON withdrawals (account, requested_at);
CREATE INDEX withdrawals_status ON withdrawals (status);
