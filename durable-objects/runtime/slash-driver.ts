import type { CommandMeta } from '../domain/decider.ts';
import { backoffMs } from '../domain/backoff.ts';
import { slashEvidence, type JobState, type RecordSlash } from '../domain/job/index.ts';
import type { Result } from '../domain/result.ts';
import type { Slashing } from '../../programs/client/slashing.ts';

/** How often a proposed slash is looked at on chain until it has run or been vetoed (its appeal window is counted by the chain's clock). */
export const SLASH_RECHECK_MS = 15_000;

/** What the driver needs from the job object around it (and what a test gives it instead). */
export interface SlashPorts {
  state(): JobState;
  record(command: RecordSlash, meta: CommandMeta): Result<unknown>;
  /** The verifier's slashing on chain; null when this deployment does not slash (no chain, no SLASH_PROPOSER_KEY). */
  slashing(): Slashing | null;
  now(): number;
  warn(message: string): void;
}

const sha256 = async (text: string) => new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));

/**
 * The slashes of a job's rejected replicas, driven on chain: a pending one is proposed by the
 * verifier with its evidence (or skipped, with the reason, when the provider has nothing staked);
 * a proposed one is looked at every SLASH_RECHECK_MS and executed once its appeal window is over,
 * or recorded vetoed. Each step's outcome is a RecordSlash in the job's log; a step that fails (RPC
 * down, a lost race for a proposal's number) records nothing and is retried after a backoff.
 * Backoff and the next look are kept in memory: a restarted object looks again at once.
 */
export class SlashDriver {
  private readonly failures = new Map<number, number>();
  private readonly nextAt = new Map<number, number>();

  constructor(private readonly ports: SlashPorts) {}

  /** When the next step is due; null when nothing is left, or this deployment does not slash. */
  dueAt(): number | null {
    const s = this.ports.state();
    if (s.status === 'none' || !s.slashes || this.ports.slashing() === null) return null;
    let due: number | null = null;
    for (const [replica, slash] of Object.entries(s.slashes)) {
      if (slash.outcome !== 'pending' && slash.outcome !== 'proposed') continue;
      const at = this.nextAt.get(Number(replica)) ?? 0;
      due = due === null ? at : Math.min(due, at);
    }
    return due;
  }

  /** Runs every step that is due. */
  async drive(): Promise<void> {
    const s = this.ports.state();
    const chain = this.ports.slashing();
    if (s.status === 'none' || !s.slashes || chain === null) return;
    const now = this.ports.now();
    for (const [key, slash] of Object.entries(s.slashes)) {
      const replica = Number(key);
      if ((slash.outcome !== 'pending' && slash.outcome !== 'proposed') || (this.nextAt.get(replica) ?? 0) > now) continue;
      const meta = (step: string): CommandMeta => ({ commandId: `slash:${replica}:${step}`, actor: 'system:slash', now });
      try {
        if (slash.outcome === 'pending') {
          const evidence = slashEvidence(s, replica);
          if (!evidence) continue;
          const proposed = await chain.propose({ provider: slash.provider, evidence: await sha256(evidence.receipt), digests: await sha256(evidence.digests) });
          const command: RecordSlash =
            proposed.outcome === 'proposed'
              ? { type: 'RecordSlash', replica, outcome: 'proposed', proposal: proposed.proposal, amount: proposed.amount, executableAt: proposed.executableAt }
              : { type: 'RecordSlash', replica, outcome: proposed.outcome, reason: proposed.reason };
          this.must(this.ports.record(command, meta(command.outcome)));
        } else {
          const settled = await chain.settle(slash.proposal!);
          if (settled.outcome !== 'waiting') {
            const command: RecordSlash = settled.outcome === 'refused' ? { type: 'RecordSlash', replica, outcome: 'refused', reason: settled.reason } : { type: 'RecordSlash', replica, outcome: settled.outcome };
            this.must(this.ports.record(command, meta(command.outcome)));
          }
        }
        this.failures.delete(replica);
        this.nextAt.set(replica, now + SLASH_RECHECK_MS);
      } catch (e) {
        const n = (this.failures.get(replica) ?? 0) + 1;
        this.failures.set(replica, n);
        this.nextAt.set(replica, now + backoffMs(n, { minMs: 1_000, maxMs: 5 * 60_000 }));
        this.ports.warn(`slash of replica ${replica} of ${s.jobId}: ${e instanceof Error ? e.message : String(e)} (attempt ${n})`);
      }
    }
  }

  private must(r: Result<unknown>): void {
    if (!r.ok) throw new Error(`RecordSlash refused: ${r.error.code} ${r.error.message}`);
  }
}
