import type { CommandMeta } from '../domain/decider.ts';
import { backoffMs } from '../domain/backoff.ts';
import type { SlashOutcome, SlashStep } from '../domain/slash.ts';
import type { Result } from '../domain/result.ts';
import type { Slashing } from '../../programs/client/slashing.ts';

/** How often a proposed slash is looked at on chain until it has run or been vetoed (its appeal window is counted by the chain's clock). */
export const SLASH_RECHECK_MS = 15_000;

/** One slash the driver carries through: a job's rejected replica, a chat holder found at fault. */
export interface SlashCase {
  /** Its key among its owner's slashes (a replica's number, an agent key). */
  id: string;
  provider: string;
  outcome: 'pending' | SlashOutcome;
  proposal: number | null;
  /** The texts whose SHA-256 digests the proposal carries; null: not (or no longer) slashable. Built only when a proposal is sent. */
  evidence: () => { receipt: string; digests: string } | null;
}

/** What the driver needs from the object around it (and what a test gives it instead). */
export interface SlashPorts {
  /** The slashes this object knows of: every open one (pending or proposed); closed ones may be left out. Asked at every dueAt(). */
  cases(): SlashCase[];
  /** Records a step of one slash (in the job's log, in the chat router's table). */
  record(id: string, step: SlashStep, meta: CommandMeta): Result<unknown>;
  /** The verifier's slashing on chain; null when this deployment does not slash (no chain, no SLASH_PROPOSER_KEY). */
  slashing(): Slashing | null;
  now(): number;
  warn(message: string): void;
}

const sha256 = async (text: string) => new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));

/**
 * Slashes driven on chain (a job's rejected replicas, chat holders found at fault): a pending one is proposed by the
 * verifier with its evidence (or skipped, with the reason, when the provider has nothing staked);
 * a proposed one is looked at every SLASH_RECHECK_MS and executed once its appeal window is over,
 * or recorded vetoed. Each step's outcome is recorded by the owner; a step that fails (RPC
 * down, a lost race for a proposal's number) records nothing and is retried after a backoff.
 * Backoff and the next look are kept in memory: a restarted object looks again at once.
 */
export class SlashDriver {
  private readonly failures = new Map<string, number>();
  private readonly nextAt = new Map<string, number>();

  constructor(private readonly ports: SlashPorts) {}

  private open(): SlashCase[] {
    return this.ports.cases().filter((c) => c.outcome === 'pending' || c.outcome === 'proposed');
  }

  /** When the next step is due; null when nothing is left, or this deployment does not slash. */
  dueAt(): number | null {
    const open = this.open();
    if (open.length === 0 || this.ports.slashing() === null) return null;
    return Math.min(...open.map((c) => this.nextAt.get(c.id) ?? 0));
  }

  /** Runs every step that is due. */
  async drive(): Promise<void> {
    const open = this.open();
    const chain = open.length === 0 ? null : this.ports.slashing();
    if (chain === null) return;
    const now = this.ports.now();
    for (const slash of open) {
      const { id } = slash;
      if ((this.nextAt.get(id) ?? 0) > now) continue;
      const meta = (step: string): CommandMeta => ({ commandId: `slash:${id}:${step}`, actor: 'system:slash', now });
      const record = (step: SlashStep) => this.must(id, this.ports.record(id, step, meta(step.outcome)));
      try {
        if (slash.outcome === 'pending') {
          const evidence = slash.evidence();
          if (!evidence) continue;
          const proposed = await chain.propose({ provider: slash.provider, evidence: await sha256(evidence.receipt), digests: await sha256(evidence.digests) });
          record(proposed.outcome === 'proposed' ? { outcome: 'proposed', proposal: proposed.proposal, amount: proposed.amount, executableAt: proposed.executableAt } : { outcome: proposed.outcome, reason: proposed.reason });
        } else {
          const settled = await chain.settle(slash.proposal!);
          if (settled.outcome !== 'waiting') record(settled.outcome === 'refused' ? { outcome: 'refused', reason: settled.reason } : { outcome: settled.outcome });
        }
        this.failures.delete(id);
        this.nextAt.set(id, now + SLASH_RECHECK_MS);
      } catch (e) {
        const n = (this.failures.get(id) ?? 0) + 1;
        this.failures.set(id, n);
        this.nextAt.set(id, now + backoffMs(n, { minMs: 1_000, maxMs: 5 * 60_000 }));
        this.ports.warn(`slash ${id} of ${slash.provider}: ${e instanceof Error ? e.message : String(e)} (attempt ${n})`);
      }
    }
  }

  private must(id: string, r: Result<unknown>): void {
    if (!r.ok) throw new Error(`the slash's step was refused: ${r.error.code} ${r.error.message}`);
  }
}
