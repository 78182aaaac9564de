import { UNITS_PER_DOUG } from '../../durable-objects/domain/money.ts';
import { DougApiError, DougClient } from '../../sdk/client.ts';
import { generateKeypair } from '../../durable-objects/contracts/auth.ts';
import { depositToEscrow, sendCosignedWithdrawal } from '../../sdk/deposit.ts';
import { withTimeout } from '../bench/harness.ts';
import { eventually } from '../e2e/agents.ts';
import type { FaultMode, FaultRule } from '../e2e/rpc-proxy.ts';
import { chatSessions, killAndRestart, placeBid, signal, waitForAsk, type World } from './world.ts';

/*
 * The fault scenarios. Each draws every choice (which agent, when, how long, which RPC faults) from
 * its seed, so a failing run is reproduced by `npm run test:chaos -- --seed N --only NAME`. A
 * scenario only makes trouble and counts it; the checks after it (world.ts quiesceAndCheck) judge.
 */

export type Size = 'quick' | 'full';

export interface ScenarioOutcome {
  operations: number;
  faults: number;
  /** What was done, in words, for the report. */
  detail: string;
  /** What went wrong while it ran (a 500, an answer without a code); the checks after it add theirs. */
  failures?: string[];
}

export interface Scenario {
  name: string;
  what: string;
  run: (w: World, rand: () => number, size: Size) => Promise<ScenarioOutcome>;
}

/** Refusals by code, in words. */
export const describeCodes = (byCode: Record<string, number>): string => Object.entries(byCode).map(([code, n]) => `${n} ${code}`).join(', ') || 'none refused';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const between = (rand: () => number, lo: number, hi: number) => Math.round(lo + rand() * (hi - lo));
const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

/** Places `count` bids from the world's buyers in turn, two in flight, `gapMs` apart at most; answers how many were accepted. */
async function bidStream(w: World, rand: () => number, count: number, gapMs: number): Promise<number> {
  let accepted = 0;
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      if ((await placeBid(w, w.buyers[i % w.buyers.length]!)) !== null) accepted++;
      await sleep(between(rand, 0, gapMs));
    }
  };
  await Promise.all([lane(), lane()]);
  return accepted;
}

const agentKills: Scenario = {
  name: 'agent-kills',
  what: 'agents killed (SIGKILL, no drain) at random moments while jobs run, back with their keys',
  async run(w, rand, size) {
    const bids = size === 'quick' ? 12 : 40;
    const kills = size === 'quick' ? 3 : 8;
    let killed = 0;
    const faults = (async () => {
      for (let k = 0; k < kills; k++) {
        await sleep(between(rand, 200, 2_000));
        const a = pick(rand, w.agents);
        await killAndRestart(w, a, between(rand, 100, 1_500));
        killed++;
        await waitForAsk(w, a);
      }
    })();
    // Chat conversations go on meanwhile: a killed stage holder's are taken over by the other holder.
    const chat = chatSessions(w, w.buyers[0]!, 2, faults);
    const accepted = await bidStream(w, rand, bids, 600);
    await faults;
    const c = await chat;
    return {
      operations: accepted + killed + c.completions,
      faults: killed,
      detail: `${accepted} bids, ${c.answered}/${c.completions} chat completions answered (${describeCodes(c.refusedByCode)}), ${killed} agents killed`,
      failures: c.failures,
    };
  },
};

/**
 * `restarts` times: a stream of `bids` bids, and a restart (`restart`) after a seeded moment
 * (`afterMs`) while it runs; then `afterwards` (more bids, say). Answers the bids accepted.
 */
async function restartsDuringBids(
  w: World,
  rand: () => number,
  o: { restarts: number; bids: number; afterMs: [number, number]; restart: () => Promise<void>; afterwards?: () => Promise<number> },
): Promise<number> {
  let accepted = 0;
  for (let r = 0; r < o.restarts; r++) {
    const stream = bidStream(w, rand, o.bids, 300);
    await sleep(between(rand, ...o.afterMs));
    await o.restart();
    accepted += await stream;
    accepted += (await o.afterwards?.()) ?? 0;
  }
  return accepted;
}

const workerRestart: Scenario = {
  name: 'worker-restart',
  what: 'the Worker process (wrangler dev, workerd) stopped and started mid-flow; objects rebuild from their logs',
  async run(w, rand, size) {
    const restarts = size === 'quick' ? 1 : 2;
    const accepted = await restartsDuringBids(w, rand, {
      restarts,
      bids: size === 'quick' ? 6 : 12,
      afterMs: [300, 2_500],
      restart: () => w.stack.restart(),
      afterwards: async () => {
        // The agents reconnect on their own; bids after the restart need them back.
        for (const a of w.agents) await waitForAsk(w, a);
        return bidStream(w, rand, 4, 300);
      },
    });
    return { operations: accepted + restarts, faults: restarts, detail: `${accepted} bids, ${restarts} restart(s)` };
  },
};

/** RPC faults the Worker meets between it and the chain (test/e2e/rpc-proxy.ts); a hang lasts until the Worker's RPC timeout (10 s). */
const RPC_FAULTS: { method: string; modes: FaultMode[] }[] = [
  { method: 'sendTransaction', modes: ['error', 'rpc-error', 'forward-error', 'forward-hang', 'swallow', 'hang'] },
  { method: 'getSignatureStatuses', modes: ['error', 'not-found', 'rpc-error', 'hang'] },
  { method: 'getLatestBlockhash', modes: ['error', 'rpc-error', 'hang'] },
  { method: 'getTransaction', modes: ['error', 'rpc-error'] },
  { method: 'getAccountInfo', modes: ['error', 'rpc-error'] },
  { method: 'getMultipleAccounts', modes: ['error', 'rpc-error'] },
];

const rpcFaults: Scenario = {
  name: 'rpc-faults',
  what: 'Solana RPC failing, answering errors, hanging and losing answers during deposits, settlements and withdrawals',
  async run(w, rand, size) {
    const before = Object.values(w.proxy.faults).reduce((a, b) => a + b, 0);
    const rules: FaultRule[] = [];
    for (let i = 0; i < (size === 'quick' ? 6 : 14); i++) {
      const f = pick(rand, RPC_FAULTS);
      rules.push({ method: f.method, mode: pick(rand, f.modes), times: between(rand, 1, 3) });
    }
    for (const r of rules) w.proxy.fault(r);
    let operations = 0;
    // A deposit: the faucet mints through the Worker (so through the proxy), the wallet sends its
    // deposit to the chain itself, and the Worker reads it through the proxy before crediting it.
    const depositor = (async () => {
      const key = await generateKeypair();
      const client = new DougClient({ baseUrl: w.stack.url, keypair: key });
      await retryCoded(() => client.faucet(5n * UNITS_PER_DOUG), 'the faucet');
      const { signature } = await depositToEscrow({ chain: { ...w.chain, escrow: w.chain.escrow! }, wallet: key, amount: 5n * UNITS_PER_DOUG });
      await retryCoded(() => client.deposit(signature), 'a deposit');
      w.buyers.push({ key, client });
      w.accounts.add(key.publicKey);
      operations += 2;
    })();
    // A withdrawal from an escrow: co-signed through the proxy, sent by the buyer, confirmed through the proxy.
    const leaver = w.buyers[0]!;
    const withdrawal = (async () => {
      const clientId = `chaos-${Date.now()}`;
      const wd = await retryCoded(() => leaver.client.withdraw({ amount: UNITS_PER_DOUG / 10n, destination: leaver.key.publicKey, clientId }), 'a withdrawal');
      w.withdrawals.add(wd.withdrawalId);
      // RPC trouble may have kept the server from co-signing at once: it co-signs on its next try.
      const ready = await eventually(async () => {
        const x = await leaver.client.withdrawal(wd.withdrawalId);
        return x.cosigned !== null || x.status !== 'funded' ? x : null;
      }, 'the withdrawal to be co-signed', 60_000, w.stack.log);
      if (ready.cosigned === null) throw new Error(`withdrawal ${wd.withdrawalId} ended ${ready.status} without being co-signed`);
      await sendCosignedWithdrawal({ chain: w.chain, wallet: leaver.key, withdrawal: ready });
      await eventually(async () => (await leaver.client.withdrawal(wd.withdrawalId)).status === 'paid', 'the withdrawal to be paid', 90_000, w.stack.log);
      operations++;
    })();
    operations += await bidStream(w, rand, size === 'quick' ? 10 : 30, 400);
    await Promise.all([depositor, withdrawal]);
    // Faults not yet met are cleared: the checks run against a healthy chain.
    w.proxy.clear();
    const faults = Object.values(w.proxy.faults).reduce((a, b) => a + b, 0) - before;
    return { operations, faults, detail: `${rules.map((r) => `${r.method} ${r.mode}×${r.times}`).join(', ')}` };
  },
};

/** Tries `fn` again while it fails as the chain's trouble makes it (a 502/503, a deposit not seen yet, no answer), for up to a minute. */
async function retryCoded<T>(fn: () => Promise<T>, what: string): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      return await withTimeout(fn(), 30_000, what);
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what} kept failing: ${err instanceof Error ? err.message : String(err)}`);
      // The chain's trouble comes back as 502/503 (CUSTODY__CHAIN_UNAVAILABLE, …_REFUSED): retried. A 500 is a defect.
      if (err instanceof DougApiError && (err.code === 'API__INTERNAL' || (err.status < 500 && err.code !== 'CUSTODY__DEPOSIT_UNKNOWN'))) throw err;
      await sleep(1_000);
    }
  }
}

const leaseLapse: Scenario = {
  name: 'lease-lapse',
  what: 'every agent frozen (SIGSTOP) with its socket open while work is leased to it, thawed after the leases ran out: leases lapse en masse',
  async run(w, rand, size) {
    const reader = new DougClient({ baseUrl: w.stack.url });
    for (const a of w.agents) {
      signal(a, 'SIGSTOP');
      a.frozen = true;
    }
    const firstBid = w.bids.size;
    const accepted = await bidStream(w, rand, size === 'quick' ? 8 : 20, 100);
    await sleep(between(rand, 4_000, 6_000)); // the fault market's leases last 3 s
    for (const a of w.agents) {
      signal(a, 'SIGCONT');
      a.frozen = false;
    }
    // The leases that lapsed, from the jobs' own timelines (once they ended, the checks wait for that).
    let lapsed = 0;
    for (const id of [...w.bids.keys()].slice(firstBid)) {
      const job = await reader.job(id).catch(() => null);
      lapsed += ((job?.timeline ?? []) as { event: string }[]).filter((e) => e.event === 'LeaseExpired').length;
    }
    if (lapsed === 0) return { operations: accepted, faults: 0, detail: `${accepted} bids`, failures: ['no lease lapsed while every agent was frozen'] };
    return { operations: accepted, faults: lapsed, detail: `${accepted} bids, ${w.agents.length} agents frozen, ${lapsed} leases lapsed` };
  },
};

const chainRestart: Scenario = {
  name: 'chain-restart',
  what: 'the local chain stopped and started again (same state) while settlements go on chain',
  async run(w, rand, size) {
    const restarts = size === 'quick' ? 1 : 2;
    const accepted = await restartsDuringBids(w, rand, { restarts, bids: 8, afterMs: [1_000, 3_000], restart: () => w.restartChain(between(rand, 1_000, 3_000)) });
    return { operations: accepted + restarts, faults: restarts, detail: `${accepted} bids, ${restarts} chain restart(s)` };
  },
};

export const SCENARIOS: readonly Scenario[] = [agentKills, workerRestart, rpcFaults, leaseLapse, chainRestart];
