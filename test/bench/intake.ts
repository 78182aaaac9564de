/**
 * Intake benchmark through Miniflare (real workerd, real SQLite): one MarketObject receiving orders
 * one RPC call per order and in placeMany batches, a bare append-only object for comparison, and the
 * cold start of a market object holding many events. The timed loops run inside workerd
 * (test/bench/intake-worker.ts); this script builds that worker, starts Miniflare and reads results.
 *
 *   node --import tsx test/bench/intake.ts [--events N] [--n N] [--rounds R] [--batch B] [--quiet] [--integrity] [--tmp DIR]
 *
 * Prints a table and, last, one JSON line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import { benchStateRoot, median, withTimeout } from './harness.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = resolve(here, '../..');

export interface IntakeBenchOptions {
  /** Events seeded into the replay object (default 1,000,000). */
  events?: number;
  /** Orders per timed intake run (default 20,000). */
  n?: number;
  /** Rounds of raw append and one-call intake, alternating (default 3); the ratio is their median. */
  rounds?: number;
  /** Commands per placeMany call (default 200). */
  batch?: number;
  /** After timing, also run integrity() on the replay object (replays from zero: slow). */
  integrity?: boolean;
  /**
   * Folder for the objects' SQLite files (benchStateRoot: /dev/shm where it exists; e.g. /tmp for the disk).
   */
  tmp?: string;
  /**
   * Diagnostics: also run the intake loops on the quiet market object (no alarm: no outbox delivery,
   * no projection feed) and on a quiet one with snapshots off, and time each part of a command's
   * path inside workerd (the worker's /probe: µs per command of the RPC itself, a raw insert, one in
   * a transaction, JSON, the request hash, decide + evolve, the event store's whole path), to split
   * where intake time goes.
   */
  quiet?: boolean;
  /** Progress lines on stderr. */
  log?: (line: string) => void;
}

async function bundle(outdir: string): Promise<string> {
  const outfile = join(outdir, 'intake-worker.mjs');
  await build({
    entryPoints: [join(here, 'intake-worker.ts')],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    mainFields: ['module', 'main'],
    conditions: ['workerd', 'worker', 'import'],
    external: ['cloudflare:*', 'node:*'],
    logLevel: 'silent',
  });
  return outfile;
}

function miniflare(script: string, persist: string): Miniflare {
  return new Miniflare({
    name: 'intake-bench',
    modules: true,
    scriptPath: script,
    modulesRoot: dirname(script),
    compatibilityDate: '2026-04-20',
    compatibilityFlags: ['nodejs_compat'],
    bindings: { MARKET_LIST: JSON.stringify([{ id: 'cpu', description: 'bench' }]) },
    durableObjects: {
      MARKETS: { className: 'MarketObject', useSQLite: true },
      QUIET: { className: 'QuietMarketObject', useSQLite: true },
      NOSNAP: { className: 'NoSnapshotMarketObject', useSQLite: true },
      JOBS: { className: 'JobObject', useSQLite: true },
      ACCOUNTS: { className: 'AccountObject', useSQLite: true },
      RAW: { className: 'RawAppendObject', useSQLite: true },
      PROBE: { className: 'ProbeObject', useSQLite: true },
    },
    d1Databases: { DB: 'dougai-bench' },
    queueProducers: { PROJECTIONS: { queueName: 'dougai-projections' } },
    // The alarm's projection feed goes to this queue; the bench worker's consumer only acks.
    // BENCH_NO_QUEUE_CONSUMER=1 leaves the consumer out (to check the alarm copes without one).
    ...(process.env.BENCH_NO_QUEUE_CONSUMER === '1' ? {} : { queueConsumers: { 'dougai-projections': { maxBatchSize: 100, maxBatchTimeout: 1 } } }),
    durableObjectsPersist: join(persist, 'do'),
    d1Persist: join(persist, 'd1'),
    kvPersist: join(persist, 'kv'),
    cachePersist: false,
    // workerd's console (the alarm's outbox warnings) is drained, keeping the last lines for errors.
    handleRuntimeStdio(stdout, stderr) {
      for (const s of [stdout, stderr]) s.on('data', (chunk: Buffer) => runtimeTail.push(...chunk.toString().split('\n').filter(Boolean)) && runtimeTail.splice(0, Math.max(0, runtimeTail.length - 20)));
    },
  });
}

const runtimeTail: string[] = [];

async function get<T>(mf: Miniflare, path: string, timeoutMs: number): Promise<T> {
  const res = await withTimeout(mf.dispatchFetch(`http://bench${path}`), timeoutMs, path);
  const text = await withTimeout(res.text(), timeoutMs, `${path} body`);
  if (!res.ok) throw new Error(`${path}: ${res.status} ${text.slice(0, 2000)}\nworkerd:\n${runtimeTail.join('\n')}`);
  return JSON.parse(text) as T;
}

interface RunResult {
  kind: string;
  n: number;
  ms: number;
  perSec: number;
  latencyMs: { p50: number; p99: number; max: number };
  counts: Record<string, number>;
  live: number;
}

export async function runIntakeBench(opts: IntakeBenchOptions = {}): Promise<Record<string, number>> {
  const events = opts.events ?? 1_000_000;
  const n = opts.n ?? 20_000;
  const batch = opts.batch ?? 200;
  const rounds = opts.rounds ?? 3;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const tmpRoot = benchStateRoot(opts.tmp);
  log(`state under ${tmpRoot}`);
  const dir = mkdtempSync(join(tmpRoot, 'dougai-intake-'));
  const out: Record<string, number> = {};
  let mf: Miniflare | undefined;
  try {
    const script = await withTimeout(bundle(dir), 60_000, 'esbuild');

    // 1-3: intake, one call per order and batched, and the raw append baseline, in one instance.
    // 1-3: each timed run gets a fresh Miniflare (a market object's alarm keeps draining its outbox
    // and projection feed after its run: that must not slow the next run), warmed up on other objects
    // (quiet markets: same command path, no alarm left behind) before timing.
    const warm = Math.max(500, Math.floor(n / 10));
    let phase = 0;
    const timed = async (query: string, label: string): Promise<RunResult> => {
      mf = miniflare(script, join(dir, `intake-${phase++}`));
      try {
        await withTimeout(mf.ready, 60_000, 'miniflare start');
        await get(mf, `/run?kind=single&n=${warm}&object=warm-single&seed=101&quiet=1`, 120_000);
        await get(mf, `/run?kind=batch&n=${warm * 4}&batch=${batch}&object=warm-batch&seed=103&quiet=1`, 120_000);
        await get(mf, `/run?kind=raw&n=${warm}&object=warm-raw&seed=102`, 120_000);
        const r = await get<RunResult>(mf, `/run?${query}`, 300_000);
        log(`${label}: ${r.perSec.toFixed(0)}/s over ${r.n} (latency ms ${JSON.stringify(r.latencyMs)})${r.kind === 'raw' ? '' : ` ${JSON.stringify(r.counts)} live ${r.live}`}`);
        return r;
      } finally {
        await withTimeout(mf.dispose(), 30_000, 'dispose');
        mf = undefined;
      }
    };
    // Rounds alternate raw append and one-call-per-order intake, each on a fresh instance; rates and
    // the ratio are medians over the rounds (the ratio of each round's pair), so that a slow moment
    // of this shared machine hits one round, not the figure. Then raw once more closes the last pair.
    const raws: RunResult[] = [];
    const singles: RunResult[] = [];
    for (let round = 0; round < rounds; round++) {
      raws.push(await timed(`kind=raw&n=${n}&object=raw&seed=${2 + 10 * round}`, `raw append (round ${round + 1})`));
      singles.push(await timed(`kind=single&n=${n}&object=single&seed=${1 + 10 * round}`, `market, one call per order (round ${round + 1})`));
    }
    const batched = await timed(`kind=batch&n=${n * 5}&batch=${batch}&object=batch&seed=3`, `market, placeMany x${batch}`);
    raws.push(await timed(`kind=raw&n=${n}&object=raw&seed=4`, 'raw append (again)'));
    // Each intake run against the mean of the raw runs either side of it.
    const ratios = singles.map((r, i) => r.perSec / ((raws[i]!.perSec + raws[i + 1]!.perSec) / 2));
    const single = singles.slice().sort((a, b) => a.perSec - b.perSec)[Math.floor(singles.length / 2)]!;
    const rawRate = median(raws.map((r) => r.perSec));
    out.market_intake_orders_per_s = Math.round(single.perSec);
    out.market_intake_p50_ms = single.latencyMs.p50;
    out.market_intake_p99_ms = single.latencyMs.p99;
    out.market_intake_batched_orders_per_s = Math.round(batched.perSec);
    out.market_intake_batch_size = batch;
    out.raw_append_per_s = Math.round(rawRate);
    out.market_intake_vs_raw_append = Number(median(ratios).toFixed(3));
    out.market_intake_rounds = rounds;
    out.intake_orders = n;
    if (opts.quiet) {
      const qs = await timed(`kind=single&n=${n}&object=qsingle&seed=1&quiet=1`, 'market, one call per order, no alarm');
      const qb = await timed(`kind=batch&n=${n * 5}&batch=${batch}&object=qbatch&seed=3&quiet=1`, `market, placeMany x${batch}, no alarm`);
      out.market_intake_no_alarm_orders_per_s = Math.round(qs.perSec);
      out.market_intake_batched_no_alarm_orders_per_s = Math.round(qb.perSec);
      const ns = await timed(`kind=single&n=${n}&object=nsingle&seed=1&nosnap=1`, 'market, one call per order, no alarm, no snapshots');
      const nb = await timed(`kind=batch&n=${n * 5}&batch=${batch}&object=nbatch&seed=3&nosnap=1`, `market, placeMany x${batch}, no alarm, no snapshots`);
      out.market_intake_no_alarm_no_snapshot_orders_per_s = Math.round(ns.perSec);
      out.market_intake_batched_no_alarm_no_snapshot_orders_per_s = Math.round(nb.perSec);
      mf = miniflare(script, join(dir, `intake-${phase++}`));
      try {
        await withTimeout(mf.ready, 60_000, 'miniflare start');
        const probe = await get<Record<string, number>>(mf, `/probe?n=${Math.max(1000, Math.floor(n / 4))}&rounds=3`, 300_000);
        log(`µs per command, inside workerd (median of 3, the call's own cost taken off but for noop): ${JSON.stringify(probe)}`);
        for (const [k, v] of Object.entries(probe)) out[`intake_probe_${k}_us`] = v;
      } finally {
        await withTimeout(mf.dispose(), 30_000, 'dispose');
        mf = undefined;
      }
    }
    out.state_on_tmpfs = tmpRoot === '/dev/shm' ? 1 : 0;

    // 4: seed a market object with `events` events, restart on the same state, time the first call.
    if (events > 0) {
      const persist = join(dir, 'replay');
      mf = miniflare(script, persist);
      await withTimeout(mf.ready, 60_000, 'miniflare start');
      let seeded = { events: 0, done: false, live: 0, ms: 0, commands: 0 };
      let seedMs = 0;
      let commands = 0;
      const t0 = Date.now();
      while (!seeded.done) {
        seeded = await get(mf, `/seed?object=replay&events=${events}&batch=${batch}&budgetMs=15000`, 120_000);
        seedMs += seeded.ms;
        commands += seeded.commands;
        log(`seeding: ${seeded.events} events, ${seeded.live} live orders, ${((seeded.events * 1000) / Math.max(1, seedMs)).toFixed(0)} events/s`);
      }
      log(`seeded ${seeded.events} events from ${commands} commands in ${Date.now() - t0} ms`);
      out.replay_seed_events_per_s = Math.round((seeded.events * 1000) / Math.max(1, seedMs));
      out.replay_seed_orders_per_s = Math.round((commands * 1000) / Math.max(1, seedMs));
      out.replay_book_orders = seeded.live;
      await withTimeout(mf.dispose(), 60_000, 'dispose');
      mf = undefined;

      mf = miniflare(script, persist);
      const tStart = Date.now();
      await withTimeout(mf.ready, 60_000, 'miniflare restart');
      const tReady = Date.now();
      const firstCall = await get<{ ms: number; secondMs: number; depth: unknown }>(mf, '/first?object=replay', 120_000);
      const tFirst = Date.now();
      log(`cold first call: ${firstCall.ms} ms inside workerd (${tFirst - tReady} ms from Node; Miniflare start ${tReady - tStart} ms); second call ${firstCall.secondMs} ms`);
      out.replay_1m_events_ms = firstCall.ms;
      out.replay_first_call_from_node_ms = tFirst - tReady;
      const seq = await get<{ seq: number }>(mf, `/seq?object=replay&after=${Math.max(0, seeded.events - 1000)}`, 120_000);
      out.replay_events = seq.seq;
      if (opts.integrity) {
        const integ = await get<{ ms: number; consistent: boolean; seq: number }>(mf, '/integrity?object=replay', 600_000);
        log(`integrity: seq ${integ.seq}, consistent ${integ.consistent}, ${integ.ms} ms (replay from zero)`);
        out.replay_integrity_consistent = integ.consistent ? 1 : 0;
        out.replay_from_zero_ms = integ.ms;
      }
    }
    return out;
  } finally {
    if (mf) await withTimeout(mf.dispose(), 30_000, 'dispose').catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.env.WRANGLER_SEND_METRICS = 'false';
  process.env.CLOUDFLARE_CF_FETCH_ENABLED = 'false';
  process.env.WRANGLER_SEND_ERROR_REPORTS = 'false';
  const opts: IntakeBenchOptions = {
    events: Number(arg('events') ?? 1_000_000),
    n: Number(arg('n') ?? 20_000),
    batch: Number(arg('batch') ?? 200),
    rounds: Number(arg('rounds') ?? 3),
    integrity: process.argv.includes('--integrity'),
    quiet: process.argv.includes('--quiet'),
    ...(arg('tmp') ? { tmp: arg('tmp') } : {}),
  };
  const started = Date.now();
  runIntakeBench(opts)
    .then((r) => {
      console.log(`intake bench (Miniflare/workerd, ${opts.n} orders per run, batch ${opts.batch}, replay of ${opts.events} events)`);
      for (const [k, v] of Object.entries(r)) console.log(`  ${k.padEnd(36)} ${v}`);
      console.log(`  ${'total_s'.padEnd(36)} ${((Date.now() - started) / 1000).toFixed(1)}`);
      console.log(JSON.stringify(r));
      process.exit(0);
    })
    .catch((error) => {
      console.error(error);
      process.exit(1);
    });
}
