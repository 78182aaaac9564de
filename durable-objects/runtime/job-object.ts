import { ORDER_ID } from '../contracts/api.ts';
import type { CommandMeta } from '../domain/decider.ts';
import { jobDecider, jobView, nextDeadline, type JobCommand, type JobEvent, type JobState, type JobView } from '../domain/job/index.ts';
import type { Result } from '../domain/result.ts';
import type { Decision } from './event-store.ts';
import type { Env } from './env.ts';
import { EventSourcedObject } from './event-sourced-object.ts';

/** One job after its match: leases, results, verification, settlement or refund. */
export class JobObject extends EventSourcedObject<JobCommand, JobEvent, JobState> {
  protected readonly kind = 'job' as const;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, jobDecider, 200);
  }

  protected timer(state: JobState) {
    const at = nextDeadline(state);
    return at === null ? null : { at, command: { type: 'Tick' } as JobCommand };
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

  /** The job's current view, or null when no job by this id exists. */
  async view(): Promise<JobView | null> {
    return this.store.seq === 0 ? null : jobView(this.store.state);
  }
}
