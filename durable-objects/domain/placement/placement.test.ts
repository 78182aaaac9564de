import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { accountDecider, type AccountState } from '../account/index.ts';
import type { CommandMeta } from '../decider.ts';
import { domainError } from '../errors.ts';
import type { DomainError } from '../result.ts';
import { specFor } from '../spec.ts';
import { nextStep, outcomeOf, placementDecider, type PlacementEvent, type PlacementState, type PlacementTerms } from './index.ts';

const given = specFor(placementDecider);
const TERMS: PlacementTerms = {
  placementId: 'bid_cpu_1',
  account: 'buyer',
  holdId: 'bid_cpu_1',
  amount: 6_000n,
  target: {
    kind: 'bid',
    market: 'cpu',
    command: {
      type: 'PlaceBid',
      bidId: 'bid_cpu_1',
      owner: 'buyer',
      maxPrice: 1_000n,
      units: 3,
      replicas: 2,
      requirements: [],
      expiresAt: 2_000_000,
      ioc: false,
      spec: { modelSha256: 'm'.repeat(64), inputSha256: 'i'.repeat(64), inputBytes: 8, tolerance: null },
    },
  },
};
const FUNDS = domainError('ACCOUNT__INSUFFICIENT_FUNDS', { available: 0n, required: 6_000n, holdId: 'bid_cpu_1' });
const CLOSED = domainError('MARKET__ORDER_CLOSED', { orderId: 'bid_cpu_1', status: 'expired' });
const started: PlacementEvent = { type: 'PlacementStarted', terms: TERMS };
const stateAfter = (events: PlacementEvent[]): PlacementState => given(events).state;

describe('a placement, step by step', () => {
  it('holds the escrow first, on the buyer account, under the bid id', () => {
    expect(given([]).when({ type: 'StartPlacement', terms: TERMS }).events()).toEqual([started]);
    expect(nextStep(stateAfter([started]))).toEqual({ type: 'hold', account: 'buyer', commandId: 'hold:bid_cpu_1', command: { type: 'Hold', holdId: 'bid_cpu_1', amount: 6_000n } });
    expect(outcomeOf(stateAfter([started]))).toEqual({ status: 'pending' });
  });

  it('places the order only once the escrow is held', () => {
    expect(given([started]).when({ type: 'RecordHold', outcome: 'held' }).events()).toEqual([{ type: 'EscrowHeld' }]);
    expect(nextStep(stateAfter([started, { type: 'EscrowHeld' }]))).toEqual({ type: 'place', target: TERMS.target });
  });

  it('ends refused, holding nothing and placing nothing, when the account cannot fund it', () => {
    expect(given([started]).when({ type: 'RecordHold', outcome: 'refused', error: FUNDS }).events()).toEqual([{ type: 'EscrowRefused', error: FUNDS }]);
    const s = stateAfter([started, { type: 'EscrowRefused', error: FUNDS }]);
    expect(nextStep(s)).toEqual({ type: 'done' });
    expect(outcomeOf(s)).toEqual({ status: 'refused', error: FUNDS });
  });

  it('ends placed when the market takes the order, and then asks for nothing more', () => {
    const events = given([started, { type: 'EscrowHeld' }]).when({ type: 'RecordPlacement', outcome: 'accepted' }).events();
    expect(events).toEqual([{ type: 'PlacementAccepted' }]);
    const s = stateAfter([started, { type: 'EscrowHeld' }, ...events]);
    expect(nextStep(s)).toEqual({ type: 'done' });
    expect(outcomeOf(s)).toEqual({ status: 'placed' });
  });

  it('releases the escrow of an order the market refused, with the release command idempotent by hold id', () => {
    const history: PlacementEvent[] = [started, { type: 'EscrowHeld' }];
    expect(given(history).when({ type: 'RecordPlacement', outcome: 'refused', error: CLOSED }).events()).toEqual([{ type: 'PlacementRefused', error: CLOSED }]);
    const releasing = stateAfter([...history, { type: 'PlacementRefused', error: CLOSED }]);
    expect(nextStep(releasing)).toEqual({ type: 'release', account: 'buyer', commandId: 'unhold:bid_cpu_1', command: { type: 'ReleaseHold', holdId: 'bid_cpu_1' } });
    // The caller learns the refusal at once; the release may still be on its way.
    expect(outcomeOf(releasing)).toEqual({ status: 'refused', error: CLOSED });
    expect(given([...history, { type: 'PlacementRefused', error: CLOSED }]).when({ type: 'RecordRelease' }).events()).toEqual([{ type: 'EscrowReleased' }]);
    expect(nextStep(stateAfter([...history, { type: 'PlacementRefused', error: CLOSED }, { type: 'EscrowReleased' }]))).toEqual({ type: 'done' });
  });
});

describe('a placement, with answers lost or repeated', () => {
  it('asks again for the step whose answer was lost: the state only moves on an answer', () => {
    const s = stateAfter([started, { type: 'EscrowHeld' }]);
    expect(nextStep(s)).toEqual(nextStep(structuredClone(s)));
    expect(nextStep(s).type).toBe('place');
  });

  it('ignores a repeated or late answer to a step it no longer waits for', () => {
    const placed: PlacementEvent[] = [started, { type: 'EscrowHeld' }, { type: 'PlacementAccepted' }];
    expect(given(placed).when({ type: 'RecordHold', outcome: 'held' }).events()).toEqual([]);
    expect(given(placed).when({ type: 'RecordPlacement', outcome: 'refused', error: CLOSED }).events()).toEqual([]);
    expect(given(placed).when({ type: 'RecordRelease' }).events()).toEqual([]);
    // A late "refused" for the hold after it was recorded held must not undo the hold's place step.
    expect(given([started, { type: 'EscrowHeld' }]).when({ type: 'RecordHold', outcome: 'refused', error: FUNDS }).events()).toEqual([]);
  });

  it('answers a repeated start with nothing new, and refuses other terms under the same id', () => {
    expect(given([started, { type: 'EscrowHeld' }]).when({ type: 'StartPlacement', terms: TERMS }).events()).toEqual([]);
    const other = { ...TERMS, amount: 7_000n };
    expect(given([started]).when({ type: 'StartPlacement', terms: other }).rejection().code).toBe('API__IDEMPOTENCY_CONFLICT');
  });

  it('starts again after a refused hold (nothing was held), but never after a release (the hold id is spent)', () => {
    expect(given([started, { type: 'EscrowRefused', error: FUNDS }]).when({ type: 'StartPlacement', terms: TERMS }).events()).toEqual([started]);
    const released: PlacementEvent[] = [started, { type: 'EscrowHeld' }, { type: 'PlacementRefused', error: CLOSED }, { type: 'EscrowReleased' }];
    expect(given(released).when({ type: 'StartPlacement', terms: TERMS }).events()).toEqual([]);
    expect(outcomeOf(stateAfter(released))).toEqual({ status: 'refused', error: CLOSED });
  });
});

/**
 * The process against the real account decider and a market that accepts or refuses, with every
 * call's answer possibly lost (the call ran, the answer did not come back) or the call itself
 * failing (it never ran), and every step repeated as the shell would. Whatever happens, once the
 * process is done: the order is placed and its escrow held, or it is not placed and the buyer holds
 * nothing; and the buyer's funds are conserved.
 */
describe('a placement, driven through failures', () => {
  const meta = (n: number): CommandMeta => ({ commandId: `c${n}`, actor: 'buyer', now: 1_000_000 + n });
  type Fault = 'ok' | 'lost-answer' | 'not-run';

  function drive(funds: bigint, marketAccepts: boolean, faults: Fault[]) {
    let account: AccountState = accountDecider.initialState();
    const seenAccount = new Set<string>();
    const apply = (commandId: string, command: Parameters<typeof accountDecider.decide>[1], n: number): { ok: boolean; error?: DomainError } => {
      if (seenAccount.has(commandId)) return { ok: true };
      const r = accountDecider.decide(account, command, meta(n));
      if (!r.ok) return { ok: false, error: r.error };
      seenAccount.add(commandId);
      for (const e of r.value) account = accountDecider.evolve(account, e, meta(n));
      return { ok: true };
    };
    apply('deposit', { type: 'Credit', ref: 'd', amount: funds, source: 'deposit' }, 0);
    let placed = false;
    let state = placementDecider.initialState();
    const record = (command: Parameters<typeof placementDecider.decide>[1], n: number) => {
      const r = placementDecider.decide(state, command, meta(n));
      if (!r.ok) throw new Error(r.error.code);
      for (const e of r.value) state = placementDecider.evolve(state, e, meta(n));
    };
    record({ type: 'StartPlacement', terms: TERMS }, 1);
    let i = 0;
    for (let n = 2; n < 200; n++) {
      const step = nextStep(state);
      if (step.type === 'done') break;
      const fault = faults[i++ % faults.length] ?? 'ok';
      if (fault === 'not-run') continue;
      let answer: Parameters<typeof placementDecider.decide>[1];
      if (step.type === 'hold') {
        const r = apply(step.commandId, step.command, n);
        answer = r.ok ? { type: 'RecordHold', outcome: 'held' } : { type: 'RecordHold', outcome: 'refused', error: r.error! };
      } else if (step.type === 'place') {
        if (marketAccepts) placed = true;
        answer = marketAccepts ? { type: 'RecordPlacement', outcome: 'accepted' } : { type: 'RecordPlacement', outcome: 'refused', error: CLOSED };
      } else {
        const r = apply(step.commandId, step.command, n);
        if (!r.ok) throw new Error(`release refused: ${r.error!.code}`);
        answer = { type: 'RecordRelease' };
      }
      if (fault === 'lost-answer') continue;
      record(answer, n);
    }
    return { state, account, placed };
  }

  it('ends with the escrow held behind a placed order, or nothing held at all', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 20_000n }), fc.boolean(), fc.array(fc.constantFrom<Fault>('ok', 'lost-answer', 'not-run'), { minLength: 1, maxLength: 8 }), (funds, accepts, faults) => {
        if (!faults.includes('ok')) faults.push('ok');
        const { state, account, placed } = drive(funds, accepts, faults);
        expect(nextStep(state)).toEqual({ type: 'done' });
        const held = account.held;
        expect(account.available + held).toBe(funds);
        if (placed) {
          expect(outcomeOf(state)).toEqual({ status: 'placed' });
          expect(held).toBe(TERMS.amount);
        } else {
          expect(outcomeOf(state).status).toBe('refused');
          expect(held).toBe(0n);
        }
        expect(placed).toBe(accepts && funds >= TERMS.amount);
      }),
    );
  });
});
