// `npm run demo`: plays a buyer against a running `npm start` (DOUG_URL, default 127.0.0.1:8787), or
// starts its own local stack with two agents when none answers. Uploads the example model and its
// inputs (examples/, built by scripts/build-examples.ts), funds a fresh wallet from the faucet (minted on the local chain, then deposited), bids for a 2-replica job, waits until it is verified
// and settled, fetches the result, and prints the balances before and after. Last line: one JSON object.
import { generateKeypair } from '../durable-objects/contracts/auth.ts';
import { readFileSync } from 'node:fs';
import { parseInputs } from '../durable-objects/contracts/tensor-json.ts';
import { formatDoug, UNITS_PER_DOUG } from '../durable-objects/domain/money.ts';
import { DougClient } from '../sdk/client.ts';
import { faucetAndDeposit } from '../sdk/deposit.ts';
import { startStack, type Stack } from '../test/e2e/stack.ts';

const say = (line: string) => process.stderr.write(`${line}\n`);

async function reachable(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/v1/health`)).ok;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  let url = process.env.DOUG_URL ?? 'http://127.0.0.1:8787';
  let stack: Stack | null = null;
  if (!(await reachable(url))) {
    say(`no marketplace at ${url}: starting a local one with two agents…`);
    stack = await startStack({ agents: 2, markets: process.env.DOUG_MARKET_LIST ?? '[{"id":"cpu","description":"General-purpose CPU inference"}]' });
    url = stack.url;
  }
  try {
    const buyerKey = await generateKeypair();
    const buyer = new DougClient({ baseUrl: url, keypair: buyerKey });
    say(`buyer ${buyer.accountKey}`);
    // The faucet mints test $DOUG on the local chain; a deposit into custody credits the ledger.
    const funded = await faucetAndDeposit(buyer, buyerKey, 10n * UNITS_PER_DOUG);
    if (funded.deposit) say(`deposited 10 DOUG on chain (${funded.deposit.signature.slice(0, 12)}…)`);

    const model = await buyer.uploadModel(new Uint8Array(readFileSync('examples/model.onnx')));
    const inputs = parseInputs(readFileSync('examples/inputs.json', 'utf8'));
    if (!inputs.ok) throw new Error(`examples/inputs.json: ${inputs.error}`);
    const input = await buyer.uploadInputs(inputs.tensors, { model: model.sha256 });
    say(`model ${model.sha256.slice(0, 12)}… (${model.bytes} bytes), inputs ${input.inputSha256.slice(0, 12)}…`);

    // Wait for two providers to be listed (agents started by `npm start` need a few seconds).
    const deadline = Date.now() + 60_000;
    while ((await buyer.asks({ market: 'cpu' })).items.length < 2) {
      if (Date.now() > deadline) throw new Error('fewer than two agents are offering the cpu market');
      await new Promise((r) => setTimeout(r, 500));
    }
    const before = await buyer.account();
    const bid = await buyer.placeBid({
      market: 'cpu',
      maxPrice: (2n * UNITS_PER_DOUG / 1000n).toString(),
      units: 1,
      replicas: 2,
      expiresAt: Date.now() + 10 * 60_000,
      job: { modelSha256: model.sha256, inputSha256: input.inputSha256, inputBytes: input.inputBytes, tolerance: null },
    });
    say(`bid ${bid.order.id}: ${bid.order.status}, escrow ${formatDoug(BigInt(bid.escrow ?? '0'))} DOUG`);
    const jobId = bid.order.id;
    let job = await waitFor(async () => {
      const j = await buyer.job(jobId).catch(() => null);
      return j && (j.status === 'settled' || j.status === 'refunded') ? j : null;
    }, 120_000);
    say(`job ${jobId}: ${String(job.status)}`);
    const result = job.status === 'settled' ? await buyer.jobResult(jobId) : null;
    job = await buyer.job(jobId);
    const after = await waitFor(async () => {
      const b = await buyer.account();
      return b.held === '0' ? b : null;
    }, 30_000);
    say(`balance before: ${formatDoug(BigInt(before.available))} DOUG available, ${formatDoug(BigInt(before.held))} held`);
    say(`balance after:  ${formatDoug(BigInt(after.available))} DOUG available, ${formatDoug(BigInt(after.held))} held`);
    // With escrow custody the providers are paid on chain from the buyer's escrow: wait for the batch.
    const timeline = (job.timeline as { at: number; event: string }[] | undefined) ?? [];
    const settledAt = timeline.find((t) => t.event === 'JobSettled')?.at ?? null;
    const settlement = after.escrow
      ? (
          await waitFor(async () => {
            const b = await buyer.account();
            return b.settlement && b.settlement.pending === '0' && b.settlement.paid.batches > 0 ? b : null;
          }, 60_000)
        ).settlement!
      : null;
    if (settlement) {
      const last = settlement.recent[0]!;
      say(`paid on chain from your escrow: batch ${last.batch}, ${last.payouts} payouts, ${formatDoug(BigInt(last.gross))} DOUG (${last.signature.slice(0, 12)}…), ${settledAt === null ? '?' : last.at - settledAt} ms after verification`);
    }
    const replicas = (job.replicas as { provider: string; digest: string | null; status: string }[]) ?? [];
    console.log(
      JSON.stringify({
        status: job.status,
        verified: job.status === 'settled' && replicas.filter((r) => r.status === 'paid').length === 2,
        jobId,
        outputDigest: result?.outputDigest ?? null,
        outputs: result?.outputs.map((t) => ({ name: t.name, dims: t.dims })) ?? [],
        providers: replicas.map((r) => r.provider),
        cost: (BigInt(before.available) - BigInt(after.available)).toString(),
        before: { available: before.available, held: before.held },
        after: { available: after.available, held: after.held },
        settlement: settlement && {
          batches: settlement.paid.batches,
          paid: settlement.paid.gross,
          fee: settlement.paid.fee,
          signature: settlement.recent[0]?.signature ?? null,
          lagMs: settledAt === null || !settlement.recent[0] ? null : settlement.recent[0].at - settledAt,
        },
      }),
    );
  } finally {
    await stack?.stop();
  }
}

async function waitFor<T>(check: () => Promise<T | null>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 250));
  }
}

main().catch((error: unknown) => {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
