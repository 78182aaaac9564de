// `npm run test:staking-sequences -- [--sequences N] [--workers K] [--seed S] [--check-every C]`:
// the staking program's randomized run (programs/testing/staking-sequences.ts) at length, a million
// sequences by default, split across K processes (default: one per CPU), each on its own chain with
// seed S + its number. Prints progress, a table, and last a JSON line; exits 1 on the first broken
// identity, naming the seed, sequence and step that reproduce it.
import { fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { runStakingSequences, type SequenceRunFigures } from '../programs/testing/staking-sequences.ts';

const say = (line: string) => process.stderr.write(`${line}\n`);

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`--${name} takes a positive whole number`);
  return value;
}

const toJson = (f: SequenceRunFigures) => JSON.stringify(f, (_, v) => (typeof v === 'bigint' ? v.toString() : v));

interface Report {
  kind: 'progress' | 'done' | 'failed';
  figures?: string;
  message?: string;
}

async function worker(): Promise<void> {
  const [sequences, seed, checkEvery] = ['sequences', 'seed', 'check-every'].map((n) => option(n, 0));
  const send = (r: Report) => new Promise<void>((resolve) => process.send!(r, () => resolve()));
  try {
    const figures = await runStakingSequences({ sequences: sequences!, seed: seed!, fullCheckEvery: checkEvery!, progress: (f) => process.send!({ kind: 'progress', figures: toJson(f) } satisfies Report) });
    await send({ kind: 'done', figures: toJson(figures) });
  } catch (error) {
    await send({ kind: 'failed', message: error instanceof Error ? error.message : String(error) });
  }
  process.disconnect();
}

async function main(): Promise<void> {
  const sequences = option('sequences', 1_000_000);
  const workers = Math.min(option('workers', availableParallelism()), sequences);
  const seed = option('seed', 20261206);
  const checkEvery = option('check-every', 1_000);
  const started = performance.now();
  say(`staking program, randomized run: ${sequences.toLocaleString('en')} sequences of 8 steps on ${workers} chain(s), seed ${seed}, full recount every ${checkEvery.toLocaleString('en')} sequences`);
  const latest: (Record<string, unknown> | null)[] = new Array(workers).fill(null);
  const shares = Array.from({ length: workers }, (_, i) => Math.floor(sequences / workers) + (i < sequences % workers ? 1 : 0));
  let lastSay = 0;
  const children: ReturnType<typeof fork>[] = [];
  const runs = shares.map(
    (share, i) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const child = fork(process.argv[1]!, ['--worker', '--sequences', String(share), '--seed', String(seed + i), '--check-every', String(checkEvery)], { execArgv: ['--import', 'tsx'] });
        children.push(child);
        child.on('message', (r: Report) => {
          if (r.kind === 'failed') reject(new Error(`chain ${i} (seed ${seed + i}): ${r.message}`));
          else {
            latest[i] = JSON.parse(r.figures!);
            if (r.kind === 'done') resolve(latest[i]!);
            else if (performance.now() - lastSay > 30_000) {
              lastSay = performance.now();
              const done = latest.reduce((s, f) => s + Number(f?.sequences ?? 0), 0);
              say(`  ${done.toLocaleString('en')} sequences checked (${Math.round((done / sequences) * 100)}%), ${Math.round((performance.now() - started) / 1000)} s`);
            }
          }
        });
        child.on('exit', (code) => reject(new Error(`chain ${i} ended with code ${code} before reporting`)));
      }),
  );
  const results = await Promise.all(runs).catch((error: unknown) => {
    for (const child of children) child.kill();
    throw error;
  });
  const seconds = (performance.now() - started) / 1000;
  const sum = (k: string) => results.reduce((s, r) => s + BigInt(r[k] as string | number), 0n);
  const tally = (k: 'landed' | 'refused') => {
    const out: Record<string, number> = {};
    for (const r of results) for (const [name, n] of Object.entries(r[k] as Record<string, number>)) out[name] = (out[name] ?? 0) + n;
    return out;
  };
  const landed = tally('landed');
  const refused = tally('refused');
  const steps = Number(sum('steps'));
  const rows: [string, string][] = [
    ['sequences', sum('sequences').toLocaleString('en')],
    ['steps', steps.toLocaleString('en')],
    ['positions opened', sum('positions').toLocaleString('en')],
    ['full recounts', sum('fullChecks').toLocaleString('en')],
    ...Object.entries(landed).map(([k, n]): [string, string] => [`landed: ${k}`, n.toLocaleString('en')]),
    ...Object.entries(refused).map(([k, n]): [string, string] => [`refused: ${k}`, n.toLocaleString('en')]),
    ['fees in (base units)', sum('feesIn').toLocaleString('en')],
    ['  to stakers', sum('feesToStakers').toLocaleString('en')],
    ['  to the treasury', sum('feesToTreasury').toLocaleString('en')],
    ['claimed', sum('claimed').toLocaleString('en')],
    ['slashed', sum('slashed').toLocaleString('en')],
    ['largest shortfall against a share (2^-64 units)', results.reduce((m, r) => (BigInt(r.maxShortfall as string) > m ? BigInt(r.maxShortfall as string) : m), 0n).toLocaleString('en')],
    ['identities broken', '0'],
    ['seconds', seconds.toFixed(0)],
  ];
  for (const [k, v] of rows) say(`  ${k.padEnd(48)} ${v}`);
  console.log(
    JSON.stringify({
      staking_sequences: Number(sum('sequences')),
      staking_steps: steps,
      staking_positions: Number(sum('positions')),
      staking_fees_in: sum('feesIn').toString(),
      staking_claimed: sum('claimed').toString(),
      staking_identities_broken: 0,
      staking_steps_per_s: Math.round(steps / seconds),
      staking_seconds: Math.round(seconds),
    }),
  );
}

if (process.argv.includes('--worker')) await worker();
else
  await main().catch((error: unknown) => {
    say(`identity broken: ${error instanceof Error ? error.message : String(error)}`);
    console.log(JSON.stringify({ staking_identities_broken: 1 }));
    process.exit(1);
  });
