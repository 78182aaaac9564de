import { describe, expect, it } from 'vitest';
import type { Slashing } from '../../programs/client/slashing.ts';
import { slashStepProblem, type SlashStep } from '../domain/slash.ts';
import { SLASH_RECHECK_MS, SlashDriver, type SlashCase } from './slash-driver.ts';

/*
 * The slash driver's course over its ports: the cases and their records are an in-memory table
 * (what the job's log and the chat router's table are to it), the chain a script of answers (the
 * real chain's path is test/e2e/escrow.test.ts's, for a job and for a chat holder).
 */

function setup(o: { cases: SlashCase[]; chain: Partial<Slashing> | null }) {
  let now = 1_000_000;
  const warnings: string[] = [];
  const recorded: { id: string; step: SlashStep }[] = [];
  const cases = new Map(o.cases.map((c) => [c.id, { ...c }]));
  const driver = new SlashDriver({
    cases: () => [...cases.values()],
    record: (id, step) => {
      const c = cases.get(id)!;
      const problem = slashStepProblem(c.outcome, c.proposal, step);
      if (problem) return { ok: false, error: { code: 'X', message: JSON.stringify(problem), context: {} } };
      recorded.push({ id, step });
      cases.set(id, { ...c, outcome: step.outcome, proposal: step.proposal ?? c.proposal });
      return { ok: true, value: null };
    },
    slashing: () => o.chain as Slashing | null,
    now: () => now,
    warn: (m) => warnings.push(m),
  });
  return { driver, recorded, warnings, cases, advance: (ms: number) => (now += ms), now: () => now };
}

const evidence = () => ({ receipt: 'r', digests: 'd' });

describe('slash driver', () => {
  it('does nothing where the deployment does not slash, or nothing is open', async () => {
    const none = setup({ cases: [{ id: 'a', provider: 'p', outcome: 'pending', proposal: null, evidence }], chain: null });
    expect(none.driver.dueAt()).toBeNull();
    await none.driver.drive();
    expect(none.recorded).toEqual([]);
    const closed = setup({ cases: [{ id: 'a', provider: 'p', outcome: 'executed', proposal: 3, evidence }], chain: {} });
    expect(closed.driver.dueAt()).toBeNull();
  });

  it('proposes a pending slash with the digests of its evidence, then looks again every SLASH_RECHECK_MS until it is executed', async () => {
    const proposals: { provider: string; evidence: Uint8Array; digests: Uint8Array }[] = [];
    let onChain: 'waiting' | 'executed' = 'waiting';
    const t = setup({
      cases: [{ id: 'agent-1', provider: 'p1', outcome: 'pending', proposal: null, evidence }],
      chain: {
        propose: async (p) => (proposals.push(p), { outcome: 'proposed', proposal: 7, amount: 200n, executableAt: 5 }),
        settle: async (index) => (index === 7 ? { outcome: onChain } : { outcome: 'refused', reason: 'unknown proposal' }),
      },
    });
    expect(t.driver.dueAt()).toBe(0);
    await t.driver.drive();
    expect(t.recorded).toEqual([{ id: 'agent-1', step: { outcome: 'proposed', proposal: 7, amount: 200n, executableAt: 5 } }]);
    expect(Buffer.from(proposals[0]!.evidence).toString('hex')).toBe(Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode('r'))).toString('hex'));
    expect(Buffer.from(proposals[0]!.digests).toString('hex')).toBe(Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode('d'))).toString('hex'));
    // Not due again before the recheck.
    expect(t.driver.dueAt()).toBe(t.now() + SLASH_RECHECK_MS);
    await t.driver.drive();
    expect(t.recorded).toHaveLength(1);
    t.advance(SLASH_RECHECK_MS);
    await t.driver.drive(); // still in its appeal window
    expect(t.recorded).toHaveLength(1);
    onChain = 'executed';
    t.advance(SLASH_RECHECK_MS);
    await t.driver.drive();
    expect(t.recorded.at(-1)).toEqual({ id: 'agent-1', step: { outcome: 'executed' } });
    expect(t.driver.dueAt()).toBeNull();
  });

  it('records why nothing was slashed, and leaves a case without evidence pending', async () => {
    const t = setup({
      cases: [
        { id: 'poor', provider: 'p1', outcome: 'pending', proposal: null, evidence },
        { id: 'old', provider: 'p2', outcome: 'pending', proposal: null, evidence: () => null },
      ],
      chain: { propose: async ({ provider }) => ({ outcome: 'skipped', reason: `${provider} has no stake to slash` }) },
    });
    await t.driver.drive();
    expect(t.recorded).toEqual([{ id: 'poor', step: { outcome: 'skipped', reason: 'p1 has no stake to slash' } }]);
    expect(t.cases.get('old')!.outcome).toBe('pending');
  });

  it('backs off a step that fails (RPC down) with a warning naming the slash, and tries again', async () => {
    let down = true;
    const t = setup({
      cases: [{ id: 'agent-2', provider: 'p1', outcome: 'pending', proposal: null, evidence }],
      chain: { propose: async () => (down ? Promise.reject(new Error('fetch failed')) : { outcome: 'proposed', proposal: 1, amount: 1n, executableAt: 1 }) },
    });
    await t.driver.drive();
    await t.driver.drive();
    expect(t.recorded).toEqual([]);
    expect(t.warnings).toEqual(['slash agent-2 of p1: fetch failed (attempt 1)']);
    expect(t.driver.dueAt()).toBeGreaterThan(t.now());
    down = false;
    t.advance(5 * 60_000);
    await t.driver.drive();
    expect(t.recorded).toEqual([{ id: 'agent-2', step: { outcome: 'proposed', proposal: 1, amount: 1n, executableAt: 1 } }]);
  });

  it('takes a refusal of its record as a failed step: the record is not assumed', async () => {
    const t = setup({ cases: [{ id: 'x', provider: 'p1', outcome: 'pending', proposal: null, evidence }], chain: { propose: async () => ({ outcome: 'proposed', proposal: 1, amount: 0n, executableAt: 1 }) } });
    await t.driver.drive();
    expect(t.recorded).toEqual([]);
    expect(t.warnings[0]).toMatch(/^slash x of p1: the slash's step was refused: X .*amount/);
  });
});

describe('a slash’s course', () => {
  it('goes pending → proposed → executed or vetoed, or ends skipped or refused; never back', () => {
    const proposed: SlashStep = { outcome: 'proposed', proposal: 2, amount: 10n, executableAt: 1 };
    expect(slashStepProblem('pending', null, proposed)).toBeNull();
    expect(slashStepProblem('pending', null, { outcome: 'skipped', reason: 'no stake' })).toBeNull();
    expect(slashStepProblem('proposed', 2, { outcome: 'executed' })).toBeNull();
    expect(slashStepProblem('proposed', 2, { outcome: 'vetoed' })).toBeNull();
    expect(slashStepProblem('proposed', 2, { outcome: 'refused', reason: 'account gone' })).toBeNull();
    expect(slashStepProblem('pending', null, { outcome: 'executed' })).toEqual({ from: 'pending', to: 'executed' });
    expect(slashStepProblem('executed', 2, proposed)).toEqual({ from: 'executed', to: 'proposed' });
    expect(slashStepProblem('skipped', null, proposed)).toEqual({ from: 'skipped', to: 'proposed' });
    // A repeat is no problem (the caller records nothing).
    expect(slashStepProblem('proposed', 2, proposed)).toBeNull();
  });

  it('refuses a step without what it needs', () => {
    expect(slashStepProblem('pending', null, { outcome: 'proposed', amount: 10n, executableAt: 1 })).toMatchObject({ field: 'proposal' });
    expect(slashStepProblem('pending', null, { outcome: 'proposed', proposal: 1, amount: 0n, executableAt: 1 })).toMatchObject({ field: 'amount' });
    expect(slashStepProblem('pending', null, { outcome: 'proposed', proposal: 1, amount: 2n ** 64n, executableAt: 1 })).toMatchObject({ field: 'amount' });
    expect(slashStepProblem('pending', null, { outcome: 'proposed', proposal: 1, amount: 1n })).toMatchObject({ field: 'executableAt' });
    expect(slashStepProblem('pending', null, { outcome: 'skipped' })).toMatchObject({ field: 'reason' });
    expect(slashStepProblem('pending', null, { outcome: 'pending' as never })).toMatchObject({ field: 'outcome' });
    // executed takes the proposal it has when the step names none.
    expect(slashStepProblem('proposed', null, { outcome: 'executed' })).toMatchObject({ field: 'proposal' });
  });
});
