/**
 * `npm run test:chaos`: attacks the running marketplace the way the real world will, on loopback,
 * with bounded counts and durations (docs: README, "Chaos suite").
 *
 *   node --import tsx test/chaos/run.ts [--quick | --full] [--seed N] [--only NAME,NAME] [--skip-load] [--skip-hostile]
 *
 * One world (world.ts: `npm start`'s stack on a local chain behind a fault proxy, real agents,
 * funded buyers) takes every fault scenario in turn (scenarios.ts), each followed by the checks:
 * every accepted bid settled or refunded, no payout lost or paid twice, every ledger balance equal
 * to the chain, the audit's conservation, every object's replay equal to its live state, the read
 * models converged. The Worker runs with the delivery fault on throughout (every outbox message and
 * projection run delivered twice, the projection's first copy reversed). Then the load run
 * (load.ts) and the hostile input (hostile.ts). Prints a table and, last, one JSON line; exits 1 on
 * any failure. A scenario's seed is the run's seed plus its index: `--seed` and `--only` reproduce it.
 */
import { writeFileSync } from 'node:fs';
import { prng } from '../../gpu-agent/models/prng.ts';
import { withTimeout } from '../bench/harness.ts';
import { runHostile } from './hostile.ts';
import { runLoad } from './load.ts';
import { describeCodes, SCENARIOS, type ScenarioOutcome, type Size } from './scenarios.ts';
import { deliveryFaults, quiesceAndCheck, startWorld, type World } from './world.ts';

interface Row {
  scenario: string;
  seed: number | null;
  operations: number;
  faults: number;
  failures: number;
  moneyChecked: number;
  detail: string;
}

function flag(name: string): string | null {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? null) : null;
}

export async function runChaos(o: { size: Size; seed: number; only: string[] | null; load: boolean; hostile: boolean; log: (line: string) => void }): Promise<{ rows: Row[]; failures: string[]; summary: Record<string, number> }> {
  const rows: Row[] = [];
  const failures: string[] = [];
  let moneyMismatches = 0;
  let lostOrDoubled = 0;
  const summary: Record<string, number> = {};
  const world: World = await startWorld({ agents: 4, buyers: 3, log: o.log });
  try {
    for (const [index, scenario] of SCENARIOS.entries()) {
      if (o.only && !o.only.includes(scenario.name)) continue;
      const seed = o.seed + index;
      o.log(`chaos: ${scenario.name} (seed ${seed}): ${scenario.what}`);
      const started = Date.now();
      let outcome: ScenarioOutcome = { operations: 0, faults: 0, detail: '' };
      const found: string[] = [];
      try {
        outcome = await withTimeout(scenario.run(world, prng(seed), o.size), 300_000, scenario.name);
        found.push(...(outcome.failures ?? []).map((f) => `${scenario.name}: ${f}`));
      } catch (err) {
        found.push(`${scenario.name}: ${err instanceof Error ? err.message : String(err)}`);
      }
      found.push(...world.problems.splice(0).map((f) => `${scenario.name}: ${f}`));
      const check = await quiesceAndCheck(world, 150_000);
      found.push(...check.failures.map((f) => `${scenario.name}: ${f}`));
      moneyMismatches += check.moneyMismatches;
      lostOrDoubled += check.lostOrDoubled;
      rows.push({ scenario: scenario.name, seed, operations: outcome.operations, faults: outcome.faults, failures: found.length, moneyChecked: check.moneyChecked, detail: `${outcome.detail}; ${check.objectsChecked} objects replayed${converged(check.convergedMs)}; ${Math.round((Date.now() - started) / 1000)} s` });
      failures.push(...found);
      for (const f of found) o.log(`chaos: FAILED ${f}`);
    }
    rows.push({ scenario: 'delivery-twice', seed: null, operations: 0, faults: deliveryFaults(world), failures: 0, moneyChecked: 0, detail: 'every outbox message and projection run above delivered twice, the projection first in reverse (checked by each scenario)' });
    if (o.hostile) {
      try {
        o.log('chaos: hostile input');
        const started = Date.now();
        const h = await runHostile({ url: world.stack.url, seed: o.seed, size: o.size, log: o.log });
        const check = await quiesceAndCheck(world, 120_000);
        const found = [...h.failures, ...check.failures].map((f) => `hostile: ${f}`);
        moneyMismatches += check.moneyMismatches;
        lostOrDoubled += check.lostOrDoubled;
        rows.push({
          scenario: 'hostile',
          seed: o.seed,
          operations: h.requests + h.socketFrames,
          faults: h.requests + h.socketFrames,
          failures: found.length,
          moneyChecked: check.moneyChecked,
          detail: `${h.requests} requests (${h.fiveXx} 5xx, ${h.uncoded} uncoded, ${h.accepted} accepted, ${h.stateChanges} state changes), ${h.replays} replays, ${h.authzAttempts} authorization attempts, ${h.socketFrames} socket frames; ${Math.round((Date.now() - started) / 1000)} s`,
        });
        Object.assign(summary, { fuzz_requests: h.requests, fuzz_5xx: h.fiveXx, fuzz_uncoded: h.uncoded, fuzz_accepted: h.accepted, fuzz_state_changes: h.stateChanges, fuzz_socket_frames: h.socketFrames, fuzz_authz_attempts: h.authzAttempts, fuzz_replays: h.replays });
        failures.push(...found);
        for (const f of found) o.log(`chaos: FAILED ${f}`);
      } catch (err) {
        failures.push(`hostile: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (o.load) {
      try {
        o.log('chaos: load');
        const started = Date.now();
        // Measured without the delivery fault, which doubles the objects' delivery work: the figures are the marketplace's own.
        await world.stack.restart({ chaosDelivery: false });
        await world.ready();
        const load = await runLoad(world, { size: o.size, log: o.log });
        const check = await quiesceAndCheck(world, 300_000);
        await load.stop();
        const found = [...load.failures, ...check.failures].map((f) => `load: ${f}`);
        moneyMismatches += check.moneyMismatches;
        lostOrDoubled += check.lostOrDoubled;
        const l = load.outcome;
        const refused = describeCodes(l.refusedByCode);
        rows.push({ scenario: 'load', seed: null, operations: l.bids + l.chat.completions, faults: 0, failures: found.length, moneyChecked: check.moneyChecked, detail: `${l.agentSockets} agent sockets; ${l.accepted}/${l.bids} bids over 3 markets in ${l.wallS} s (${refused}, ${l.uncoded} uncoded), ${l.ordersPerS}/s, p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms (alone: p50 ${l.aloneP50Ms}, p99 ${l.aloneP99Ms}); ${l.chat.answered}/${l.chat.completions} chat completions answered meanwhile (${describeCodes(l.chat.refusedByCode)}); ${check.objectsChecked} objects replayed${converged(check.convergedMs)}; ${Math.round((Date.now() - started) / 1000)} s` });
        Object.assign(summary, { load_agent_sockets: l.agentSockets, load_orders: l.bids, load_orders_per_s: l.ordersPerS, load_p50_ms: l.p50Ms, load_p99_ms: l.p99Ms, load_alone_p50_ms: l.aloneP50Ms, load_alone_p99_ms: l.aloneP99Ms, load_errors: l.uncoded, load_chat_completions: l.chat.completions, load_chat_answered: l.chat.answered });
        failures.push(...found);
        for (const f of found) o.log(`chaos: FAILED ${f}`);
      } catch (err) {
        failures.push(`load: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  } finally {
    // CHAOS_STACK_LOG=FILE keeps the stack's own output (wrangler dev, workerd) for a post-mortem.
    if (process.env.CHAOS_STACK_LOG) writeFileSync(process.env.CHAOS_STACK_LOG, world.stack.log());
    await world.close();
  }
  const faults = rows.reduce((t, r) => t + r.faults, 0);
  // The figures first, in its order; the rest after.
  const first = {
    chaos_scenarios: rows.length,
    chaos_faults_injected: faults,
    chaos_money_mismatches: moneyMismatches,
    chaos_lost_or_doubled_payments: lostOrDoubled,
    fuzz_requests: summary.fuzz_requests,
    fuzz_5xx: summary.fuzz_5xx,
    load_agent_sockets: summary.load_agent_sockets,
    load_orders_per_s: summary.load_orders_per_s,
    load_p99_ms: summary.load_p99_ms,
  };
  const present = Object.fromEntries(Object.entries(first).filter(([, v]) => v !== undefined)) as Record<string, number>;
  return { rows, failures, summary: { ...present, ...summary, chaos_failures: failures.length } };
}

const converged = (ms: number | null | undefined) => (ms ? `, converged ${(ms / 1000).toFixed(1)} s after quiet` : '');

function printTable(rows: Row[]): void {
  const head = ['scenario', 'seed', 'operations', 'faults', 'failures', 'money checked', 'detail'];
  const cells = rows.map((r) => [r.scenario, r.seed === null ? '-' : String(r.seed), String(r.operations), String(r.faults), String(r.failures), String(r.moneyChecked), r.detail]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (i === head.length - 1 ? 0 : c[i]!.length))));
  const line = (c: string[]) => c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i]!))).join('  ');
  console.log(line(head));
  for (const c of cells) console.log(line(c));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // Quick (CI's size) unless --full: the full load's larger counts take a few minutes more (test/chaos/load.ts).
  const size: Size = process.argv.includes('--full') ? 'full' : 'quick';
  const seed = Number(flag('seed') ?? 1);
  const only = flag('only')?.split(',') ?? null;
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const started = Date.now();
  const { rows, failures, summary } = await runChaos({ size, seed, only, load: !process.argv.includes('--skip-load'), hostile: !process.argv.includes('--skip-hostile'), log });
  printTable(rows);
  for (const f of failures) console.log(`FAILED ${f}`);
  console.log(JSON.stringify({ ...summary, chaos_wall_s: Math.round((Date.now() - started) / 1000) }));
  process.exit(failures.length > 0 ? 1 : 0);
}
