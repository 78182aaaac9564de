/** Builders shared by the market tests (test-only). */
import type { JobSpec, PlaceAsk, PlaceBid, PlaceReplicaBid } from '../../durable-objects/domain/market/commands.ts';
import type { AskPlaced, BidPlaced, ReplicaBidPlaced } from '../../durable-objects/domain/market/events.ts';

export const NOW = 1_000_000;
export const LATER = NOW + 60_000;

export const SPEC: JobSpec = { modelSha256: 'a'.repeat(64), inputSha256: 'b'.repeat(64), inputBytes: 10, tolerance: null };

export const ask = (o: Partial<PlaceAsk> = {}): PlaceAsk => ({
  type: 'PlaceAsk',
  askId: 'ask-1',
  owner: 'prov-1',
  price: 10n,
  capacity: 1,
  attributes: {},
  expiresAt: LATER,
  ...o,
});

export const bid = (o: Partial<PlaceBid> = {}): PlaceBid => ({
  type: 'PlaceBid',
  bidId: 'bid-1',
  owner: 'buyer-1',
  maxPrice: 20n,
  units: 100,
  replicas: 1,
  requirements: [],
  expiresAt: LATER,
  ioc: false,
  spec: SPEC,
  ...o,
});

export const replicaBid = (o: Partial<PlaceReplicaBid> = {}): PlaceReplicaBid => ({
  type: 'PlaceReplicaBid',
  jobId: 'job-1',
  replica: 0,
  buyer: 'buyer-1',
  maxPrice: 20n,
  units: 100,
  requirements: [],
  excludeProviders: [],
  expiresAt: LATER,
  ...o,
});

/** The event a resting ask leaves in the log. */
export const askPlaced = (o: Partial<PlaceAsk> = {}): AskPlaced => {
  const { type: _t, ...rest } = ask(o);
  return { type: 'AskPlaced', ...rest };
};

/** The event a resting bid leaves in the log. */
export const bidPlaced = (o: Partial<PlaceBid> = {}): BidPlaced => {
  const { type: _t, ioc: _i, ...rest } = bid(o);
  return { type: 'BidPlaced', ...rest };
};

export const replicaBidPlaced = (o: Partial<PlaceReplicaBid> = {}): ReplicaBidPlaced => {
  const { type: _t, ...rest } = replicaBid(o);
  return { type: 'ReplicaBidPlaced', ...rest };
};
