import type { CommandMeta, Decider, Outgoing } from '../decider.ts';
import type { MarketCommand } from './commands.ts';
import { decide } from './decide.ts';
import { BIGINT_FIELDS, EVENT_VERSIONS, type MarketEvent } from './events.ts';
import { evolve, initialState, restore, snapshot, type MarketState } from './state.ts';
import { bidEscrow } from './validate.ts';
import { jobParams } from '../params.ts';

export type * from './commands.ts';
export type * from './events.ts';
export type { MarketState, MarketSnapshot } from './state.ts';
export type { OrderView, BookDepth } from './view.ts';
export { MARKET_ERRORS, type MarketErrorCode } from './errors.ts';
export { getOrder, bookDepth, bestBid, bestAsk } from './view.ts';
export { nextExpiry } from './state.ts';
export { bidEscrow } from './validate.ts';

/** Outbox messages caused by a market event: jobs to create, holds to release, replicas to report. */
export function react(_state: MarketState, event: MarketEvent, _meta: CommandMeta): Outgoing[] {
  switch (event.type) {
    case 'BidMatched': {
      const units = BigInt(event.units);
      let cost = 0n;
      for (const f of event.fills) cost += f.price * units;
      const unused = bidEscrow(event) - cost;
      const out: Outgoing[] = [
        {
          to: { kind: 'job', id: event.bidId },
          command: {
            type: 'CreateJob',
            jobId: event.bidId,
            buyer: event.buyer,
            units: event.units,
            maxPrice: event.maxPrice,
            replicas: event.replicas,
            requirements: event.requirements,
            spec: event.spec,
            fills: event.fills,
            holdId: event.bidId,
            params: jobParams(_state.params),
          },
        },
      ];
      if (unused > 0n)
        out.push({ to: { kind: 'account', id: event.buyer }, command: { type: 'ReleaseHold', holdId: event.bidId, amount: unused } });
      return out;
    }
    case 'BidCancelled':
    case 'BidExpired':
      return [{ to: { kind: 'account', id: event.buyer }, command: { type: 'ReleaseHold', holdId: event.bidId } }];
    case 'ReplicaMatched':
      return [
        {
          to: { kind: 'job', id: event.jobId },
          command: {
            type: 'ReplicaMatched',
            jobId: event.jobId,
            replica: event.replica,
            askId: event.askId,
            provider: event.provider,
            price: event.price,
          },
        },
      ];
    case 'ReplicaBidExpired':
      return [{ to: { kind: 'job', id: event.jobId }, command: { type: 'ReplicaUnfilled', jobId: event.jobId, replica: event.replica } }];
    case 'ReplicaAbandoned':
      return [{ to: { kind: 'job', id: event.jobId }, command: { type: 'AbandonAssignment', replica: event.replica, askId: event.askId } }];
    default:
      return [];
  }
}

/**
 * Turns a stored event of an older schema version into the current shape. Every market event is at
 * version 1, so this is the identity; when one is bumped, convert `version < current` here, one
 * step per version, and never change event type names.
 */
export function upcast(type: string, version: number, data: Record<string, unknown>): Record<string, unknown> {
  void type;
  void version;
  return data;
}

/** The market aggregate: one book of one resource class. */
export const marketDecider: Decider<MarketCommand, MarketEvent, MarketState> = {
  initialState,
  decide,
  evolve: (state, event) => evolve(state, event),
  react,
  eventVersions: EVENT_VERSIONS,
  upcast,
  bigintFields: BIGINT_FIELDS,
  snapshot,
  restore,
};
