-- Read models projected from the objects' event logs (workers/projector.ts). Never consulted to decide.
-- Amounts are decimal strings of base units; *_key columns hold them zero-padded to 20 digits so
-- that text order is numeric order.

CREATE TABLE applied_events (
  event_id TEXT PRIMARY KEY
);

CREATE TABLE orders (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL DEFAULT '',
  market TEXT NOT NULL DEFAULT '',
  owner TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'open',
  price TEXT NOT NULL DEFAULT '0',
  price_key TEXT NOT NULL DEFAULT '',
  capacity INTEGER NOT NULL DEFAULT 0,
  slots_in_use INTEGER NOT NULL DEFAULT 0,
  units INTEGER NOT NULL DEFAULT 0,
  replicas INTEGER NOT NULL DEFAULT 0,
  attributes TEXT NOT NULL DEFAULT '{}',
  accelerator TEXT,
  memory_gb REAL,
  region TEXT,
  expires_at INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL DEFAULT 0,
  updated_seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX orders_market ON orders (market, kind, status, price_key);
CREATE INDEX orders_owner ON orders (owner, created_at);

CREATE TABLE trades (
  id TEXT PRIMARY KEY,
  market TEXT NOT NULL,
  job_id TEXT NOT NULL,
  ask_id TEXT NOT NULL,
  buyer TEXT NOT NULL,
  provider TEXT NOT NULL,
  price TEXT NOT NULL,
  price_key TEXT NOT NULL,
  units INTEGER NOT NULL,
  replica INTEGER NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX trades_market ON trades (market, at);

CREATE TABLE jobs (
  id TEXT PRIMARY KEY,
  market TEXT NOT NULL,
  buyer TEXT NOT NULL,
  status TEXT NOT NULL,
  view TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  updated_seq INTEGER NOT NULL
);
CREATE INDEX jobs_buyer ON jobs (buyer, created_at);

CREATE TABLE job_providers (
  job_id TEXT NOT NULL,
  provider TEXT NOT NULL,
  PRIMARY KEY (job_id, provider)
);
CREATE INDEX job_providers_provider ON job_providers (provider);

CREATE TABLE accounts (
  id TEXT PRIMARY KEY,
  available TEXT NOT NULL,
  held TEXT NOT NULL,
  credited TEXT NOT NULL,
  withdrawn TEXT NOT NULL,
  payouts_sent TEXT NOT NULL,
  payouts_received TEXT NOT NULL,
  updated_seq INTEGER NOT NULL
);
