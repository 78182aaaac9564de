import { ORDER_ID } from '../../durable-objects/contracts/api.ts';
import { formatDoug } from '../../durable-objects/domain/money.ts';
import { UsageError, cell, doug, dougArg, durationArg, intArg, keyValues, numberArg, sha256Arg, time } from '../format.ts';
import { type CommandDef, type Ctx, attributesArg, list, marketArg, optional, readInputs, required, requirementArg, str } from './context.ts';
import { DEFAULT_WAIT, resultText, waitForJob } from './job-wait.ts';
import type { DougClient } from '../client.ts';
import type { PlaceOrderResponse } from '../../durable-objects/contracts/api.ts';

/** Placing and cancelling orders. */
export const ordersCommands: Record<string, CommandDef> = {
  ask: {
    usage: 'doug ask --market M --price DOUG --capacity N [--attr key=value ...] [--ttl 1h] [--client-id ID]',
    summary: 'offer capacity: place an ask (signed)',
    flags: { market: 'string', price: 'string', capacity: 'string', attr: 'list', ttl: 'string', 'client-id': 'string' },
    positionals: [0, 0],
    details: [
      '--price DOUG      price per work unit, e.g. 0.25',
      '--capacity N      concurrent slots offered',
      '--attr key=value  an attribute (repeatable); numbers stay numbers',
      '--ttl 1h          how long the ask rests (s, m, h, d); default 1h',
      '--client-id ID    idempotency id; a repeat returns the first result',
    ],
    run: async (ctx) => {
      const f = ctx.args.flags;
      const market = marketArg('--market', required(ctx, 'market'));
      const price = dougArg('--price', required(ctx, 'price'));
      const capacity = intArg('--capacity', required(ctx, 'capacity'), 1);
      const attributes = attributesArg(list(f.attr));
      const ttl = optional(ctx, 'ttl', (v) => durationArg('--ttl', v)) ?? 3_600_000;
      const client = await ctx.signer();
      const res = await client.placeAsk({ market, price, capacity, attributes, expiresAt: ctx.now + ttl, clientId: str(f['client-id']) });
      ctx.out(res, () =>
        keyValues([
          ['ask', res.order.id],
          ['status', res.order.status],
          ['market', res.order.market],
          ['price', `${formatDoug(price)} DOUG per unit`],
          ['capacity', String(capacity)],
          ['expires', time(ctx.now + ttl)],
        ]),
      );
    },
  },
  bid: {
    usage:
      'doug bid --market M --max-price DOUG --units N [--replicas R] [--require key>=value ...] [--ttl 10m] [--ioc]\n' +
      '         --model-sha256 H (--inputs FILE.json | --input-sha256 H --input-bytes N) [--tolerance X] [--client-id ID]\n' +
      `         [--wait [--timeout ${DEFAULT_WAIT}]]`,
    summary: 'buy compute: place a bid for a job (signed)',
    flags: {
      market: 'string',
      'max-price': 'string',
      units: 'string',
      replicas: 'string',
      require: 'list',
      ttl: 'string',
      ioc: 'boolean',
      'model-sha256': 'string',
      'input-sha256': 'string',
      'input-bytes': 'string',
      inputs: 'string',
      tolerance: 'string',
      'client-id': 'string',
      wait: 'boolean',
      timeout: 'string',
    },
    positionals: [0, 0],
    details: [
      '--max-price DOUG     most you pay per work unit, e.g. 0.25',
      '--replicas R         distinct providers to run it (1-5); default 1',
      "--require EXPR       key>=v, key<=v, key=v, key!=v or key=a|b (repeatable; quote it: '>' is a shell redirect)",
      '--ttl 10m            how long the bid rests (s, m, h, d); default 10m',
      '--ioc                immediate or cancel: never rest on the book',
      '--tolerance X        max absolute difference between replicas; default bit-exact',
      '--units N            work units you pay for per replica (a unit is about one second of the market\'s',
      '                     reference machine; each replica is paid price × units, however long it ran)',
      '--inputs FILE.json   the input tensors inline, plain {"x": {"dtype": "float32", "dims": [1, 16], "values": [...]}}',
      '                     or wire [{"name","dtype","dims","data" (base64url)}]; `doug inputs` converts',
      '--input-sha256 H     inputs uploaded before (`doug inputs FILE --upload` prints H and N)',
      '--wait               follow the job until it ends (matched, running, verifying, settled or failed),',
      '                     then print its outputs; exit 1 when it fails, is refunded or the wait times out',
      `--timeout ${DEFAULT_WAIT.padEnd(11)}how long --wait follows the job (the job goes on after it)`,
    ],
    run: async (ctx) => {
      const f = ctx.args.flags;
      const market = marketArg('--market', required(ctx, 'market'));
      const maxPrice = dougArg('--max-price', required(ctx, 'max-price'));
      const units = intArg('--units', required(ctx, 'units'), 1);
      const replicas = optional(ctx, 'replicas', (v) => intArg('--replicas', v, 1)) ?? 1;
      const requirements = list(f.require).map(requirementArg);
      const ttl = optional(ctx, 'ttl', (v) => durationArg('--ttl', v)) ?? 600_000;
      const modelSha256 = sha256Arg('--model-sha256', required(ctx, 'model-sha256'));
      const tolerance = optional(ctx, 'tolerance', (v) => numberArg('--tolerance', v)) ?? null;
      const inputsFile = str(f.inputs);
      if (f.timeout !== undefined && f.wait !== true) throw new UsageError('--timeout goes with --wait');
      const timeoutText = str(f.timeout) ?? DEFAULT_WAIT;
      const timeoutMs = durationArg('--timeout', timeoutText);
      const job = inputsFile
        ? { modelSha256, inputs: readInputs(ctx, inputsFile), tolerance }
        : {
            modelSha256,
            inputSha256: sha256Arg('--input-sha256', required(ctx, 'input-sha256')),
            inputBytes: intArg('--input-bytes', required(ctx, 'input-bytes')),
            tolerance,
          };
      const client = await ctx.signer();
      const res = await client.placeBid({
        market,
        maxPrice,
        units,
        replicas,
        requirements,
        expiresAt: ctx.now + ttl,
        ioc: f.ioc === true,
        job,
        clientId: str(f['client-id']),
      });
      const bidText = () =>
        keyValues([
          ['bid', res.order.id],
          ['status', res.order.status],
          ['market', res.order.market],
          ['max price', `${formatDoug(maxPrice)} DOUG per unit`],
          ['escrow', res.escrow === undefined ? '-' : `${doug(res.escrow)} DOUG`],
          ['job', res.jobId ?? '-'],
        ]);
      if (f.wait !== true) {
        ctx.out(res, bidText);
        return;
      }
      if (!ctx.json) ctx.io.stdout(bidText());
      return waitAndPrint(ctx, client, res, { timeoutMs, timeoutText, bidExpiresAt: ctx.now + ttl });
    },
  },
  cancel: {
    usage: 'doug cancel ORDER_ID',
    summary: 'cancel one of your asks or bids (signed)',
    flags: {},
    positionals: [1, 1],
    run: async (ctx) => {
      const id = ctx.args.positionals[0]!;
      const m = ORDER_ID.exec(id);
      if (!m) throw new UsageError(`${JSON.stringify(id)} is not an order id (ask_<market>_<24 hex> or bid_<market>_<24 hex>)`);
      const client = await ctx.signer();
      const res = m[1] === 'ask' ? await client.cancelAsk(id) : await client.cancelBid(id);
      ctx.out(res, () => keyValues([[m[1]!, res.order?.id ?? id], ['status', cell(res.order?.status)]]));
    },
  },
};

/** `doug bid --wait`: follows the job to its end, then prints its outputs; 1 unless the result came. */
async function waitAndPrint(ctx: Ctx, client: DougClient, bid: PlaceOrderResponse, o: { timeoutMs: number; timeoutText: string; bidExpiresAt: number }): Promise<number> {
  const jobId = bid.jobId ?? bid.order.id;
  const ended = (job: unknown, code: string, message: string) => {
    if (ctx.json) ctx.io.stdout(JSON.stringify({ bid, job, result: null }, null, 2) + '\n');
    ctx.io.stderr(`error ${code}: ${message}\n`);
    return 1;
  };
  if (bid.jobId === undefined && bid.order.status !== 'open' && bid.order.status !== 'matched') {
    return ended(null, 'CLI__BID_UNMATCHED', `bid ${bid.order.id} was ${bid.order.status} without a match; its escrow was released`);
  }
  const { job, progress, stopped } = await waitForJob(ctx, client, jobId, o);
  if (stopped === 'expired') return ended(job, 'CLI__BID_UNMATCHED', `bid ${bid.order.id} expired without a match; its escrow was released`);
  if (stopped === 'timeout') {
    return ended(job, 'CLI__WAIT_TIMEOUT', `job ${jobId} is still ${progress.phase} after ${o.timeoutText} (--timeout); it goes on without you: follow it with \`${ctx.cmd(`job ${jobId}`)}\``);
  }
  if (!progress.resultReady) return ended(job, 'CLI__JOB_FAILED', `job ${jobId} ${progress.text}; see \`${ctx.cmd(`job ${jobId} --history`)}\``);
  const result = await client.jobResult(jobId);
  ctx.out({ bid, job, result }, () => resultText(result));
  return 0;
}
