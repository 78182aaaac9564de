import type { CommandMeta } from '../domain/decider.ts';
import type { JobView } from '../domain/job/index.ts';
import type { Amount } from '../domain/money.ts';
import { domainError } from '../domain/errors.ts';
import {
  nextStep,
  outcomeOf,
  placementDecider,
  type PlacementCommand,
  type PlacementEvent,
  type PlacementState,
  type PlacementStep,
  type PlacementTerms,
} from '../domain/placement/index.ts';
import type { Result } from '../domain/result.ts';
import type { Env } from './env.ts';
import { backoffMs } from '../domain/backoff.ts';
import { EventSourcedObject } from './event-sourced-object.ts';
import { accountObject, jobObject, marketObject, type OrderOutcome, type PlacementRpc } from './objects.ts';

export const MIN_BACKOFF_MS = 200;
export const MAX_BACKOFF_MS = 30_000;

/**
 * One placement process (domain/placement): the request runs its steps at once, and when a step's
 * call fails (the other object did not answer) the alarm retries it with backoff until the process
 * is done, so an escrow is never stranded by a lost answer. Steps are idempotent where they land.
 */
export class PlacementObject extends EventSourcedObject<PlacementCommand, PlacementEvent, PlacementState> implements PlacementRpc {
  protected readonly kind = 'placement' as const;
  protected override readonly feedsReadModels = false;
  private failures = 0;
  private retryAt = 0;
  private driving: Promise<void> | null = null;
  /** The market's answer to this instance's own placement call, handed to the request that made it. */
  private placedAnswer: OrderOutcome | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, placementDecider, 100);
  }

  protected timer() {
    return null;
  }

  async placeBid(terms: PlacementTerms, meta: CommandMeta): Promise<Result<OrderOutcome>> {
    const started = await this.start(terms, meta);
    if (!started.ok) return started;
    const state = this.store.state;
    if (state.status !== 'placed' || state.terms.target.kind !== 'bid') return this.unfinished();
    const bidId = state.terms.target.command.bidId;
    if (this.placedAnswer && !started.value.repeated) return { ok: true, value: this.placedAnswer };
    // A repeat of a placed bid answers the order as it stands now.
    return { ok: true, value: { events: [], order: await marketObject(this.env, state.terms.target.market).order(bidId), repeated: true } };
  }

  async challenge(jobId: string, meta: CommandMeta): Promise<Result<{ held: Amount; job: JobView | null }>> {
    const job = jobObject(this.env, jobId);
    const s = this.store.state;
    // Nothing is written, on any account, before the job has said that this caller may challenge now.
    if (s.status === 'none' || s.terms.account !== meta.actor) {
      const terms = await job.challengeTerms(meta.actor, meta.now);
      if (!terms.ok) return terms;
      const holdId = `challenge_${jobId}`;
      const started = await this.start(
        { placementId: holdId, account: meta.actor, holdId, amount: terms.value.cost, target: { kind: 'challenge', jobId, command: { type: 'ChallengeResult', holdId } } },
        meta,
      );
      if (!started.ok) return started;
    } else {
      await this.drive();
    }
    const state = this.store.state;
    if (state.status !== 'placed') return this.unfinished();
    return { ok: true, value: { held: state.terms.amount, job: await job.view() } };
  }

  /** Opens (or repeats) the process and runs its steps now. */
  private async start(terms: PlacementTerms, meta: CommandMeta): Promise<Result<{ repeated: boolean }>> {
    const r = this.runOne(terms.placementId, { type: 'StartPlacement', terms }, { ...meta, commandId: `start:${terms.placementId}:${this.store.seq}` });
    if (!r.ok) return r;
    // A new request tries at once, whatever backoff an earlier failure left.
    this.retryAt = 0;
    await this.drive();
    return { ok: true, value: { repeated: r.value.events.length === 0 } };
  }

  /** The caller's answer while the process is not placed: its refusal, or "under way, ask again". */
  private unfinished<T>(): Result<T> {
    const outcome = outcomeOf(this.store.state);
    if (outcome.status === 'refused') return { ok: false, error: outcome.error };
    return { ok: false, error: domainError('API__UNAVAILABLE', { placementId: this.name }) };
  }

  protected override sweepAt(): number | null {
    return nextStep(this.store.state).type === 'done' ? null : Math.max(this.retryAt, Date.now());
  }

  protected override async sweep(): Promise<void> {
    await this.drive();
  }

  /** Takes steps until the process is done or a call fails; one drive at a time. */
  private async drive(): Promise<void> {
    while (this.driving) await this.driving;
    if (Date.now() < this.retryAt) return;
    const run = this.steps().finally(() => {
      this.driving = null;
    });
    this.driving = run;
    await run;
  }

  private async steps(): Promise<void> {
    for (let step = nextStep(this.store.state); step.type !== 'done'; step = nextStep(this.store.state)) {
      let answer: PlacementCommand;
      try {
        answer = await this.call(step);
      } catch (error) {
        this.failures++;
        this.retryAt = Date.now() + backoffMs(this.failures, { minMs: MIN_BACKOFF_MS, maxMs: MAX_BACKOFF_MS });
        console.warn(`placement ${this.name}: ${step.type} failed (attempt ${this.failures}), retrying in ${this.retryAt - Date.now()} ms: ${String(error)}`);
        this.schedule(Date.now());
        return;
      }
      this.failures = 0;
      const recorded = this.runOne(this.name, answer, { commandId: `${answer.type}:${this.name}:${this.store.seq}`, actor: 'system:placement', now: Date.now() });
      if (!recorded.ok) throw new Error(`placement ${this.name} could not record ${answer.type}: ${recorded.error.code}`);
    }
  }

  /** Makes the step's one call and turns its answer into the command that records it. Throws when there is no answer. */
  private async call(step: Exclude<PlacementStep, { type: 'done' }>): Promise<PlacementCommand> {
    const s = this.store.state;
    if (s.status === 'none') throw new Error('no placement');
    const meta = (commandId: string): CommandMeta => ({ commandId, actor: s.terms.account, now: Date.now() });
    switch (step.type) {
      case 'hold': {
        const r = await accountObject(this.env, step.account).execute(step.account, step.command, meta(step.commandId));
        return r.ok ? { type: 'RecordHold', outcome: 'held' } : { type: 'RecordHold', outcome: 'refused', error: r.error };
      }
      case 'release': {
        const r = await accountObject(this.env, step.account).execute(step.account, step.command, meta(step.commandId));
        if (!r.ok) throw new Error(`the account refused the release: ${r.error.code}`);
        return { type: 'RecordRelease' };
      }
      case 'place': {
        const target = step.target;
        if (target.kind === 'bid') {
          const r = await marketObject(this.env, target.market).place(target.market, target.command, meta(target.command.bidId));
          if (r.ok) this.placedAnswer = r.value;
          return r.ok ? { type: 'RecordPlacement', outcome: 'accepted' } : { type: 'RecordPlacement', outcome: 'refused', error: r.error };
        }
        const r = await jobObject(this.env, target.jobId).execute(target.jobId, target.command, meta(`challenge:${target.jobId}`));
        return r.ok ? { type: 'RecordPlacement', outcome: 'accepted' } : { type: 'RecordPlacement', outcome: 'refused', error: r.error };
      }
    }
  }
}
