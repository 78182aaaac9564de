-- Escrow custody: an account's payouts paid on chain from its escrow (they left the ledger), whether
-- its money is in its escrow, and each buyer's settlement (pending payouts until their batch is
-- final) projected from the settlement objects, for the audit's reconciliation with the escrow vaults.
ALTER TABLE accounts ADD COLUMN payouts_on_chain TEXT NOT NULL DEFAULT '0';
ALTER TABLE accounts ADD COLUMN escrow INTEGER NOT NULL DEFAULT 0;
CREATE TABLE settlements (
  buyer TEXT PRIMARY KEY,
  pending TEXT NOT NULL,
  paid_gross TEXT NOT NULL,
  paid_fee TEXT NOT NULL,
  view TEXT NOT NULL,
  updated_seq INTEGER NOT NULL
);
