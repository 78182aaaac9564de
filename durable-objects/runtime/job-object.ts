import { ORDER_ID } from '../contracts/api.ts';
import type { CommandMeta } from '../domain/decider.ts';
import { challengeCost, jobDecider, slashEvidence, jobView, nextDeadline, payloadsExpireAt, replicasToCompare, servableReplica, withinTolerance, type JobCommand, type JobEvent, type JobState, type JobView, type NamedTensor } from '../domain/job/index.ts';
import { wireValues, type WireTensor } from '../contracts/tensors.ts';
import type { Result } from '../domain/result.ts';
import { domainError } from '../domain/errors.ts';
import type { Decision } from './event-store.ts';
import type { Env } from './env.ts';
import { EventSourcedObject } from './event-sourced-object.ts';
import type { JobRpc } from './objects.ts';
import { resultKey } from './blob-keys.ts';
import { slashingFor } from './chain.ts';
import { SlashDriver } from './slash-driver.ts';
import type { Slashing } from '../../programs/client/slashing.ts';

/** Events whose outbox messages go out at once (afterCommit). */
const EAGER = new Set<JobEvent['type']>(['JobCreated', 'ReplicaReassigned', 'ResultSubmitted', 'RunFailed']);

/** One job after its match: leases, results, verification, settlement or refund. */
export class JobObject extends EventSourcedObject<JobCommand, JobEvent, JobState> implements JobRpc {
  protected readonly kind = 'job' as const;
  private chain: Slashing | null | undefined;
  /** The slashes of rejected replicas' providers, proposed and then executed on chain (slash-driver.ts). */
  private readonly slashes = new SlashDriver({
    cases: () => {
      const s = this.store.state;
      if (s.status === 'none') return [];
      return Object.entries(s.slashes ?? {}).map(([replica, slash]) => ({ id: replica, provider: slash.provider, outcome: slash.outcome, proposal: slash.proposal, evidence: () => slashEvidence(s, Number(replica)) }));
    },
    record: (replica, step, meta) => this.runOne(this.name, { type: 'RecordSlash', replica: Number(replica), ...step }, meta),
    slashing: () => (this.chain === undefined ? (this.chain = slashingFor(this.env)) : this.chain),
    now: () => Date.now(),
    warn: (message) => console.warn(`job ${this.name}: ${message}`),
  });

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, jobDecider, 200);
  }

  protected timer(state: JobState) {
    const at = nextDeadline(state);
    return at === null ? null : { at, command: { type: 'Tick' } as JobCommand };
  }

  /**
   * Messages on a job's critical path go out at once rather than at the next alarm: a new or
   * re-matched replica's DispatchReplica (an agent may be waiting for it), and the slot a result or
   * a failed run gives back (a resting bid may be waiting for it).
   */
  protected override afterCommit(events: JobEvent[]): void {
    if (events.some((e) => EAGER.has(e.type))) this.ctx.waitUntil(this.flush());
  }

  protected override projectionView(state: JobState): unknown {
    return jobView(state);
  }

  /** The market a job's messages go to when the decider leaves it to the shell: it is in the job id. */
  protected override resolveTarget(kind: string, id: string): string {
    return kind === 'market' && id === '' ? (ORDER_ID.exec(this.name)?.[2] ?? '') : id;
  }

  /** Runs one job command (agent actions, buyer challenges, cancellation). */
  async execute(jobId: string, command: JobCommand, meta: CommandMeta): Promise<Result<Decision<JobEvent>>> {
    return this.runOne(jobId, command, meta);
  }

  /** What a challenge by `actor` would cost now (the re-run at the original price), or the job's reason to refuse it; writes nothing. */
  async challengeTerms(actor: string, now: number): Promise<Result<{ cost: bigint }>> {
    const s = this.store.state;
    if (s.status === 'none') return { ok: false, error: domainError('API__UNKNOWN_JOB', { jobId: this.name }) };
    // The decider's own verdict on the challenge, decided and dropped: the rule lives in one place.
    const verdict = jobDecider.decide(s, { type: 'ChallengeResult', holdId: `challenge_${this.name}` }, { commandId: 'vet', actor, now });
    if (!verdict.ok) return verdict;
    const cost = challengeCost(s);
    return cost === null ? { ok: false, error: domainError('JOB__NOT_CHALLENGEABLE', { jobId: this.name, status: s.status }) } : { ok: true, value: { cost } };
  }

  /** What an agent needs to run a replica: the job's spec and units; null when no job exists. */
  async workOrder(): Promise<{ spec: { modelSha256: string; inputSha256: string; inputBytes: number; tolerance: number | null }; units: number } | null> {
    const s = this.store.state;
    return s.status === 'none' ? null : { spec: s.spec, units: s.units };
  }

  /**
   * An agent's result for a lease. Its outputs are already stored (results/<job>/<replica>); when
   * the domain says earlier replicas ran on another runtime, their outputs are loaded and compared
   * within the job's tolerance, and the agreement goes in with the result.
   */
  async submitResult(
    jobId: string,
    o: { replica: number; leaseId: string; outputDigest: string; outputBytes: number; fingerprint: string },
    meta: CommandMeta,
  ): Promise<Result<Decision<JobEvent>>> {
    const state = this.store.state;
    const compare = replicasToCompare(state, o);
    let agreement: Record<number, boolean> | undefined;
    if (compare.length > 0 && state.status !== 'none') {
      const mine = await this.outputs(jobId, o.replica);
      agreement = {};
      for (const i of compare) {
        const theirs = await this.outputs(jobId, i);
        agreement[i] = mine !== null && theirs !== null && withinTolerance(mine, theirs, state.spec.tolerance);
      }
    }
    return this.runOne(jobId, { type: 'SubmitResult', leaseId: o.leaseId, outputDigest: o.outputDigest, outputBytes: o.outputBytes, fingerprint: o.fingerprint, agreement }, meta);
  }

  private async outputs(jobId: string, replica: number): Promise<NamedTensor[] | null> {
    const object = await this.env.BLOBS.get(resultKey(jobId, replica));
    if (!object) return null;
    const tensors = (await object.json()) as WireTensor[];
    return tensors.map((t) => ({ name: t.name, dtype: t.dtype, dims: t.dims, data: wireValues(t) }));
  }

  /**
   * Whether this job's stored results are gone, as its kv row says; read once per instance (only
   * this object writes it), since sweepAt is asked after every command and alarm.
   */
  private payloadsGone: boolean | undefined;

  private payloadsDeleted(): boolean {
    this.payloadsGone ??= this.store.kvGet('payloads') === 'deleted';
    return this.payloadsGone;
  }

  protected override sweepAt(): number | null {
    const payloads = this.payloadsDeleted() ? null : payloadsExpireAt(this.store.state);
    const slash = this.slashes.dueAt();
    return payloads === null ? slash : slash === null ? payloads : Math.min(payloads, slash);
  }

  protected override async sweep(): Promise<void> {
    const payloads = this.payloadsDeleted() ? null : payloadsExpireAt(this.store.state);
    if (payloads !== null && payloads <= Date.now()) await this.deletePayloads();
    await this.slashes.drive();
  }

  /** Deletes every stored result of this job (its inputs are shared by content hash and age out on their own). */
  async deletePayloads(): Promise<void> {
    const listed = await this.env.BLOBS.list({ prefix: `results/${this.name}/` });
    if (listed.objects.length > 0) await this.env.BLOBS.delete(listed.objects.map((o) => o.key));
    this.store.kvSet('payloads', 'deleted');
    this.payloadsGone = true;
  }

  /**
   * The verified result for its buyer: outputs of a paid replica once settled (then the stored
   * payloads are deleted), or of the single replica while its challenge window is open.
   */
  async result(actor: string): Promise<Result<{ replica: number; outputDigest: string; outputs: WireTensor[] }>> {
    const s = this.store.state;
    if (s.status === 'none') return { ok: false, error: domainError('API__UNKNOWN_JOB', { jobId: this.name }) };
    if (s.buyer !== actor) return { ok: false, error: domainError('AUTH__FORBIDDEN', { actor, resource: `the result of ${this.name}` }) };
    const chosen = servableReplica(s);
    if (!chosen) return { ok: false, error: domainError('API__RESULT_NOT_READY', { jobId: this.name, status: s.status }) };
    const object = this.payloadsDeleted() ? null : await this.env.BLOBS.get(resultKey(this.name, chosen.replica));
    if (!object) return { ok: false, error: domainError('API__RESULT_GONE', { jobId: this.name }) };
    const outputs = (await object.json()) as WireTensor[];
    if (s.status === 'settled') await this.deletePayloads();
    return { ok: true, value: { replica: chosen.replica, outputDigest: chosen.digest, outputs } };
  }

  /** The job's current view, or null when no job by this id exists. */
  async view(): Promise<JobView | null> {
    return this.store.seq === 0 ? null : jobView(this.store.state);
  }
}
