#!/usr/bin/env -S node --import tsx

import { MARKET_ID, ORDER_ID } from '../durable-objects/contracts/api.ts';
import type { AttributeValue, DepositResponse, LedgerEntry, Page, Requirement } from '../durable-objects/contracts/api.ts';
import { depositMemo } from '../durable-objects/domain/custody/deposit.ts';
import { generateKeypair } from '../durable-objects/contracts/auth.ts';
import type { Keypair } from '../durable-objects/contracts/auth.ts';
import { formatDoug } from '../durable-objects/domain/money.ts';
import { readFileSync } from 'node:fs';
import type { WireTensor } from '../durable-objects/contracts/tensors.ts';
import { DougApiError, DougClient } from './client.ts';
import type { DougClientOptions, JobView, OrderFilters } from './client.ts';
import {
  UsageError,
  attributeValue,
  cell,
  doug,
  dougArg,
  durationArg,
  intArg,
  keyValues,
  numberArg,
  sha256Arg,
  table,
  isEntryModule,
  takeFlag,
  time,
  type FlagKind,
  type FlagValue,
} from './format.ts';
import { KeyFileError, loadKeypair, resolveKeyPath, saveKeypair } from './keyfile.ts';
import { loadUmi } from './umi-lazy.ts';

/**
 * The `doug` command line. `main(argv, io)` does everything and returns the exit code, so tests run
 * it in-process with their own writers, environment and client factory.
 */

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  /** Builds the API client; tests pass one that routes `fetch` where they like. */
  createClient?: (o: DougClientOptions) => DougClient;
  /** Clock for expiries; Date.now by default. */
  now?: () => number;
  /** Home folder for `~` in key paths; the OS home by default. */
  home?: string;
}

export const DEFAULT_URL = 'http://127.0.0.1:8787';


export interface CommandLine {
  command: string | null;
  positionals: string[];
  flags: Record<string, FlagValue>;
  help: boolean;
}

interface Ctx {
  args: CommandLine;
  io: CliIo;
  json: boolean;
  now: number;
  keyPath: string;
  /** A client without a key, for reads. */
  reader(): DougClient;
  /** A client that signs with the key file. */
  signer(): Promise<DougClient>;
  /** The key file's public key. */
  ownKey(): Promise<string>;
  /** The key file's keypair (signs chain transactions). */
  key(): Promise<Keypair>;
  /** Prints `value` as JSON under --json, else the human text. */
  out(value: unknown, human: () => string): void;
}

interface CommandDef {
  usage: string;
  summary: string;
  flags: Record<string, FlagKind>;
  positionals: [min: number, max: number];
  /** Flag descriptions for `--help`. */
  details?: string[];
  run: (ctx: Ctx) => Promise<number | void>;
}

const GLOBAL_FLAGS: Record<string, FlagKind> = { url: 'string', key: 'string', json: 'boolean' };
const PAGE_FLAGS: Record<string, FlagKind> = { cursor: 'string', limit: 'string' };
const ORDER_FILTER_FLAGS: Record<string, FlagKind> = {
  market: 'string',
  owner: 'string',
  'max-price': 'string',
  status: 'string',
  accelerator: 'string',
  region: 'string',
  'min-memory-gb': 'string',
  sort: 'string',
  ...PAGE_FLAGS,
};
const ORDER_FILTER_DETAILS = [
  '--max-price DOUG      only orders priced at or below, e.g. 0.25',
  '--status S            open (default), matched, cancelled, expired or all',
  '--sort S              price, -price, newest or memory',
  '--cursor C            the cursor printed under the previous page',
];
const ORDER_STATUSES = ['open', 'matched', 'cancelled', 'expired', 'all'] as const;
const ORDER_SORTS = ['price', '-price', 'newest', 'memory'] as const;

const COMMANDS: Record<string, CommandDef> = {
  help: {
    usage: 'doug help [COMMAND]',
    summary: 'show usage',
    flags: {},
    positionals: [0, 1],
    run: async (ctx) => {
      const name = ctx.args.positionals[0];
      if (name === undefined) {
        ctx.io.stdout(generalHelp());
        return 0;
      }
      const def = COMMANDS[name];
      if (!def) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
      ctx.io.stdout(commandHelp(def));
      return 0;
    },
  },
  keygen: {
    usage: 'doug keygen [--force]',
    summary: 'make a new wallet key file (Solana CLI format, mode 0600)',
    flags: { force: 'boolean' },
    positionals: [0, 0],
    details: ['--force   replace an existing key file (its key is lost)'],
    run: async (ctx) => {
      const keypair = await generateKeypair();
      await saveKeypair(ctx.keyPath, keypair, { force: ctx.args.flags.force === true });
      ctx.out({ publicKey: keypair.publicKey, path: ctx.keyPath }, () =>
        keyValues([
          ['public key', keypair.publicKey],
          ['key file', ctx.keyPath],
        ]),
      );
    },
  },
  markets: {
    usage: 'doug markets [--cursor C] [--limit N]',
    summary: 'list markets with best prices and 24h volume',
    flags: { ...PAGE_FLAGS },
    positionals: [0, 0],
    run: async (ctx) => {
      const page = await ctx.reader().markets(pageArgs(ctx));
      ctx.out(page, () =>
        pageText(
          page,
          ['MARKET', 'BEST BID', 'BEST ASK', 'LAST', 'VOLUME 24H', 'TRADES 24H', 'ASKS', 'BIDS', 'PROVIDERS', 'DESCRIPTION'],
          (m) => [m.market, doug(m.bestBid), doug(m.bestAsk), doug(m.lastPrice), doug(m.volume24h), String(m.trades24h), String(m.openAsks), String(m.openBids), String(m.providers), m.description],
          [1, 2, 3, 4, 5, 6, 7, 8],
          'no markets',
        ),
      );
    },
  },
  market: {
    usage: 'doug market MARKET [--depth N]',
    summary: "show one market's summary and order book",
    flags: { depth: 'string' },
    positionals: [1, 1],
    details: ['--depth N   book levels per side'],
    run: async (ctx) => {
      const id = marketArg('MARKET', ctx.args.positionals[0]!);
      const depth = optional(ctx, 'depth', (v) => intArg('--depth', v, 1));
      const detail = await ctx.reader().market(id, { depth });
      ctx.out(detail, () => {
        const s = detail.summary;
        const levels = (side: { price: string; orders: number; slots: number }[]) =>
          side.length === 0 ? '(empty)\n' : table(['PRICE', 'ORDERS', 'SLOTS'], side.map((l) => [doug(l.price), String(l.orders), String(l.slots)]), { right: [0, 1, 2] });
        return (
          keyValues([
            ['market', s.market],
            ['description', s.description],
            ['best bid', doug(s.bestBid)],
            ['best ask', doug(s.bestAsk)],
            ['last price', doug(s.lastPrice)],
            ['volume 24h', doug(s.volume24h)],
            ['trades 24h', String(s.trades24h)],
            ['open asks', String(s.openAsks)],
            ['open bids', String(s.openBids)],
            ['providers', String(s.providers)],
          ]) +
          '\nbids\n' +
          levels(detail.book.bids) +
          '\nasks\n' +
          levels(detail.book.asks.map((l) => ({ ...l, slots: l.freeSlots })))
        );
      });
    },
  },
  trades: {
    usage: 'doug trades MARKET [--cursor C] [--limit N]',
    summary: "list a market's trades, newest first",
    flags: { ...PAGE_FLAGS },
    positionals: [1, 1],
    run: async (ctx) => {
      const market = marketArg('MARKET', ctx.args.positionals[0]!);
      const page = await ctx.reader().trades(market, pageArgs(ctx));
      ctx.out(page, () =>
        pageText(
          page,
          ['AT', 'JOB', 'REPLICA', 'PRICE', 'UNITS', 'BUYER', 'PROVIDER'],
          (t) => [time(t.at), cell(t.jobId), cell(t.replica), doug(t.price), cell(t.units), cell(t.buyer), cell(t.provider)],
          [2, 3, 4],
          'no trades',
        ),
      );
    },
  },
  asks: {
    usage: 'doug asks [--market M] [--owner KEY] [--max-price DOUG] [--status S] [--accelerator A] [--region R] [--min-memory-gb N] [--sort S] [--cursor C] [--limit N]',
    summary: 'list asks (cheapest first)',
    flags: { ...ORDER_FILTER_FLAGS },
    positionals: [0, 0],
    details: ORDER_FILTER_DETAILS,
    run: async (ctx) => {
      const page = await ctx.reader().asks(orderFilters(ctx));
      ctx.out(page, () =>
        pageText(
          page,
          ['ID', 'MARKET', 'OWNER', 'PRICE', 'CAPACITY', 'IN USE', 'STATUS', 'EXPIRES'],
          (o) => [o.id, o.market, o.owner, doug(o.price), cell(o.capacity), cell(o.slotsInUse), o.status, time(o.expiresAt)],
          [3, 4, 5],
          'no asks',
        ),
      );
    },
  },
  bids: {
    usage: 'doug bids [--market M] [--owner KEY] [--max-price DOUG] [--status S] [--sort S] [--cursor C] [--limit N]',
    summary: 'list bids (highest first)',
    flags: { ...ORDER_FILTER_FLAGS },
    positionals: [0, 0],
    details: ORDER_FILTER_DETAILS,
    run: async (ctx) => {
      const page = await ctx.reader().bids(orderFilters(ctx));
      ctx.out(page, () =>
        pageText(
          page,
          ['ID', 'MARKET', 'OWNER', 'MAX PRICE', 'UNITS', 'REPLICAS', 'STATUS', 'EXPIRES'],
          (o) => [o.id, o.market, o.owner, doug(o.maxPrice), cell(o.units), cell(o.replicas), o.status, time(o.expiresAt)],
          [3, 4, 5],
          'no bids',
        ),
      );
    },
  },
  jobs: {
    usage: 'doug jobs [--buyer KEY] [--provider KEY] [--cursor C] [--limit N]',
    summary: 'list jobs, newest first',
    flags: { buyer: 'string', provider: 'string', ...PAGE_FLAGS },
    positionals: [0, 0],
    run: async (ctx) => {
      const f = ctx.args.flags;
      const page = await ctx.reader().jobs({ buyer: str(f.buyer), provider: str(f.provider), ...pageArgs(ctx) });
      ctx.out(page, () =>
        pageText(
          page,
          ['JOB', 'STATUS', 'BUYER', 'UNITS', 'MAX PRICE', 'REPLICAS'],
          (j) => [cell(j.jobId), cell(j.status), cell(j.buyer), cell(j.units), doug(j.maxPrice), cell(j.replicaCount)],
          [3, 4, 5],
          'no jobs',
        ),
      );
    },
  },
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
      '         --model-sha256 H (--inputs FILE.json | --input-sha256 H --input-bytes N) [--tolerance X] [--client-id ID]',
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
    },
    positionals: [0, 0],
    details: [
      '--max-price DOUG     most you pay per work unit, e.g. 0.25',
      '--units N            work units of the job',
      '--replicas R         distinct providers to run it (1-5); default 1',
      "--require EXPR       key>=v, key<=v, key=v, key!=v or key=a|b (repeatable; quote it: '>' is a shell redirect)",
      '--ttl 10m            how long the bid rests (s, m, h, d); default 10m',
      '--ioc                immediate or cancel: never rest on the book',
      '--tolerance X        max absolute difference between replicas; default bit-exact',
      '--inputs FILE.json   the input tensors inline: [{"name","dtype","dims","data" (base64url of little-endian bytes)}]',
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
      const job = inputsFile
        ? { modelSha256, inputs: readInputs(inputsFile), tolerance }
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
      ctx.out(res, () =>
        keyValues([
          ['bid', res.order.id],
          ['status', res.order.status],
          ['market', res.order.market],
          ['max price', `${formatDoug(maxPrice)} DOUG per unit`],
          ['escrow', res.escrow === undefined ? '-' : `${doug(res.escrow)} DOUG`],
          ['job', res.jobId ?? '-'],
        ]),
      );
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
  job: {
    usage: 'doug job JOB_ID [--history] [--cursor C] [--limit N]',
    summary: 'show a job (its id is its bid id), and with --history its events',
    flags: { history: 'boolean', ...PAGE_FLAGS },
    positionals: [1, 1],
    run: async (ctx) => {
      const id = ctx.args.positionals[0]!;
      const client = ctx.reader();
      const job = await client.job(id);
      if (ctx.args.flags.history !== true) {
        ctx.out(job, () => jobText(job));
        return;
      }
      const history = await client.jobHistory(id, pageArgs(ctx));
      ctx.out({ job, history }, () => jobText(job) + '\n' + eventsText(history, 'no events'));
    },
  },
  upload: {
    usage: 'doug upload MODEL.onnx',
    summary: 'upload an ONNX model (signed); prints its SHA-256, the name bids use',
    flags: {},
    positionals: [1, 1],
    run: async (ctx) => {
      const path = ctx.args.positionals[0]!;
      let bytes: Uint8Array;
      try {
        bytes = new Uint8Array(readFileSync(path));
      } catch (e) {
        throw new UsageError(`cannot read ${path}: ${(e as Error).message}`);
      }
      const client = await ctx.signer();
      const res = await client.uploadModel(bytes);
      ctx.out(res, () => keyValues([['sha256', res.sha256], ['bytes', String(res.bytes)]]));
    },
  },
  result: {
    usage: 'doug result JOB_ID',
    summary: "fetch a job's verified outputs (signed, buyer only; served once after settlement)",
    flags: {},
    positionals: [1, 1],
    run: async (ctx) => {
      const client = await ctx.signer();
      const res = await client.jobResult(ctx.args.positionals[0]!);
      ctx.out(res, () =>
        keyValues([
          ['replica', String(res.replica)],
          ['digest', res.outputDigest],
          ...res.outputs.map((t): [string, string] => [`output ${t.name}`, `${t.dtype}[${t.dims.join('×')}]`]),
        ]),
      );
    },
  },
  challenge: {
    usage: 'doug challenge JOB_ID',
    summary: 'dispute a single-replica result inside its window; the re-run is held from your balance (signed)',
    flags: {},
    positionals: [1, 1],
    run: async (ctx) => {
      const client = await ctx.signer();
      const res = await client.challengeJob(ctx.args.positionals[0]!);
      ctx.out(res, () => keyValues([['job', String(res.job.jobId)], ['status', cell(res.job.status)], ['held', `${doug(BigInt(res.held))} DOUG`]]));
    },
  },
  balance: {
    usage: 'doug balance [KEY]',
    summary: "show an account's balance and holds (default: your key)",
    flags: {},
    positionals: [0, 1],
    run: async (ctx) => {
      const key = ctx.args.positionals[0] ?? (await ctx.ownKey());
      const client = ctx.reader();
      const [view, holds] = await Promise.all([client.account(key), client.holds(key)]);
      const balance = { ...view, holds: holds.items };
      ctx.out(balance, () => {
        let text = keyValues([
          ['account', balance.account],
          ['available', `${doug(balance.available)} DOUG`],
          ['held', `${doug(balance.held)} DOUG`],
          ['credited', `${doug(balance.credited)} DOUG`],
          ['withdrawn', `${doug(balance.withdrawn)} DOUG`],
          ['payouts sent', `${doug(balance.payoutsSent)} DOUG`],
          ['payouts received', `${doug(balance.payoutsReceived)} DOUG`],
        ]);
        if (balance.holds.length > 0) {
          text += '\n' + table(['HOLD', 'AMOUNT', 'REMAINING', 'STATUS'], balance.holds.map((h) => [h.holdId, doug(h.amount), doug(h.remaining), h.status]), { right: [1, 2] });
        }
        return text;
      });
    },
  },
  ledger: {
    usage: 'doug ledger [KEY] [--cursor C] [--limit N]',
    summary: "show an account's ledger (default: your key)",
    flags: { ...PAGE_FLAGS },
    positionals: [0, 1],
    run: async (ctx) => {
      const key = ctx.args.positionals[0] ?? (await ctx.ownKey());
      const page = await ctx.reader().ledger(key, pageArgs(ctx));
      ctx.out(page, () => eventsText(page, 'no entries'));
    },
  },
  faucet: {
    usage: 'doug faucet AMOUNT_DOUG [--deposit]',
    summary: 'get test DOUG (local mode only; signed): minted to your wallet on the local chain, or credited when the server has no chain',
    flags: { deposit: 'boolean' },
    positionals: [1, 1],
    details: ['--deposit   then deposit it (as `doug deposit AMOUNT_DOUG`), so that your balance has it'],
    run: async (ctx) => {
      const amount = dougArg('AMOUNT_DOUG', ctx.args.positionals[0]!);
      const client = await ctx.signer();
      const res = await client.faucet(amount);
      if (res.minted === undefined) {
        ctx.out(res, () =>
          keyValues([
            ['credited', `${doug(res.credited ?? amount)} DOUG`],
            ['account', client.accountKey ?? '-'],
            ['available', `${doug(res.available ?? '0')} DOUG`],
          ]),
        );
        return;
      }
      if (ctx.args.flags.deposit === true) {
        const deposited = await depositOnChain(ctx, client, amount);
        ctx.out({ faucet: res, deposit: deposited }, () =>
          keyValues([
            ['minted', `${doug(res.minted!)} DOUG to ${res.wallet}`],
            ['deposited', `${doug(deposited.amount)} DOUG to ${deposited.account}`],
            ['signature', deposited.signature],
          ]),
        );
        return;
      }
      ctx.out(res, () =>
        keyValues([
          ['minted', `${doug(res.minted!)} DOUG`],
          ['wallet', res.wallet ?? '-'],
          ['token account', res.tokenAccount ?? '-'],
          ['signature', res.signature ?? '-'],
          ['next', `doug deposit ${formatDoug(amount)}   (the faucet fills your wallet; a deposit credits your balance)`],
        ]),
      );
    },
  },
  deposit: {
    usage: 'doug deposit AMOUNT_DOUG [--for ACCOUNT] | doug deposit --signature SIG',
    summary: 'move DOUG from your wallet into custody and have it credited to your balance (signed)',
    flags: { for: 'string', signature: 'string' },
    positionals: [0, 1],
    details: [
      '--for ACCOUNT     credit another account (its public key) instead of yours',
      '--signature SIG   submit a transfer already on chain (e.g. after a failed submission)',
      'The transfer (TransferChecked and the memo doug:deposit:<account>) is signed with your key,',
      'sent to the chain that GET /v1/chain names, and submitted once finalized.',
    ],
    run: async (ctx) => {
      const client = await ctx.signer();
      const signature = str(ctx.args.flags.signature);
      if (signature !== undefined) {
        if (ctx.args.positionals.length > 0) throw new UsageError('give AMOUNT_DOUG or --signature, not both');
        const res = await client.deposit(signature);
        ctx.out(res, () => depositText(res));
        return;
      }
      if (ctx.args.positionals.length === 0) throw new UsageError('missing argument; usage: doug deposit AMOUNT_DOUG');
      const amount = dougArg('AMOUNT_DOUG', ctx.args.positionals[0]!);
      const account = str(ctx.args.flags.for);
      if (account !== undefined && !/^[1-9A-HJ-NP-Za-km-z]{32,44}$/.test(account)) throw new UsageError(`--for: ${JSON.stringify(account)} is not a base58 account key`);
      const res = await depositOnChain(ctx, client, amount, account);
      ctx.out(res, () => depositText(res));
    },
  },
  withdraw: {
    usage: 'doug withdraw AMOUNT_DOUG [--to WALLET] [--client-id ID] [--no-wait] [--timeout 2m]',
    summary: 'pay DOUG out of your balance to a wallet on chain (signed by the wallet itself); waits until it is final',
    flags: { to: 'string', 'client-id': 'string', 'no-wait': 'boolean', timeout: 'string' },
    positionals: [1, 1],
    details: [
      '--to WALLET        the wallet to pay (base58); default: your key',
      '--client-id ID     repeat a withdrawal with the same id: it is paid once (default: a new id)',
      '--no-wait          print the withdrawal as accepted, without waiting for the chain',
      '--timeout 2m       how long to wait for the transfer to be final (exit 1 when it is not)',
    ],
    run: async (ctx) => {
      const f = ctx.args.flags;
      const amount = dougArg('AMOUNT_DOUG', ctx.args.positionals[0]!);
      const destination = str(f.to);
      if (destination !== undefined && !/^[1-9A-HJ-NP-Za-km-z]{32,44}$/.test(destination)) throw new UsageError(`--to: ${JSON.stringify(destination)} is not a base58 wallet address`);
      const timeout = optional(ctx, 'timeout', (v) => durationArg('--timeout', v)) ?? 120_000;
      const client = await ctx.signer();
      let w = await client.withdraw({ amount, ...(destination && { destination }), ...(str(f['client-id']) && { clientId: str(f['client-id'])! }) });
      const deadline = Date.now() + timeout;
      while (f['no-wait'] !== true && (w.status === 'requested' || w.status === 'funded') && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        w = await client.withdrawal(w.withdrawalId);
      }
      ctx.out(w, () =>
        keyValues([
          ['withdrawal', w.withdrawalId],
          ['status', w.status],
          ['amount', `${doug(w.amount)} DOUG`],
          ['to', w.destination],
          ['signature', w.signature ?? '-'],
          ...(w.refund ? [['refunded', `${w.refund.reason}: ${w.refund.detail}`] as [string, string]] : []),
        ]),
      );
      if (f['no-wait'] === true) return 0;
      if (w.status !== 'paid') {
        ctx.io.stderr(w.status === 'funded' || w.status === 'requested' ? `withdrawal ${w.withdrawalId} is not final yet (${w.status}); check it with the same --client-id or GET /v1/withdrawals/${w.withdrawalId}\n` : `withdrawal ${w.withdrawalId} was ${w.status}\n`);
        return 1;
      }
      return 0;
    },
  },
  audit: {
    usage: 'doug audit',
    summary: 'check money conservation over all accounts (exit 1 when it fails)',
    flags: {},
    positionals: [0, 0],
    run: async (ctx) => {
      const report = await ctx.reader().audit();
      ctx.out(report, () =>
        keyValues([
          ['ok', String(report.ok)],
          ['accounts', String(report.accounts)],
          ['available', `${doug(report.available)} DOUG`],
          ['held', `${doug(report.held)} DOUG`],
          ['credited', `${doug(report.credited)} DOUG`],
          ['withdrawn', `${doug(report.withdrawn)} DOUG`],
          ['in flight', `${doug(report.inFlight)} DOUG`],
          ['fee pool', `${doug(report.feePool)} DOUG`],
          ['violations', report.violations.length === 0 ? 'none' : report.violations.join(', ')],
          ...(report.custody
            ? ([
                ['custody on chain', `${doug(report.custody.onChain)} DOUG`],
                ['custody owed', `${doug(report.custody.expected)} DOUG (withdrawals in flight ${doug(report.custody.withdrawalsInFlight)})`],
                ['custody ok', `${report.custody.ok}${report.custody.unclaimed !== '0' ? ` (${doug(report.custody.unclaimed)} DOUG unclaimed)` : ''}`],
              ] as [string, string][])
            : []),
        ]),
      );
      if (!report.ok) {
        const custody = report.custody && !report.custody.ok ? `; custody holds ${doug(report.custody.onChain)} of the ${doug(report.custody.expected)} DOUG the ledger owes` : '';
        ctx.io.stderr(`error CLI__AUDIT_FAILED: conservation fails for ${report.violations.length} account(s)${custody}\n`);
        return 1;
      }
    },
  },
};

/** Splits argv into command, positionals and flags; global flags may stand anywhere. */
export function parseCommandLine(argv: string[]): CommandLine {
  let command: string | null = null;
  const positionals: string[] = [];
  const flags: Record<string, FlagValue> = {};
  let help = false;
  let rest = false;
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (!rest && tok === '--') {
      rest = true;
      continue;
    }
    if (!rest && (tok === '--help' || tok === '-h')) {
      help = true;
      continue;
    }
    if (!rest && tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      const name = eq === -1 ? tok.slice(2) : tok.slice(2, eq);
      const inline = eq === -1 ? undefined : tok.slice(eq + 1);
      const kind = GLOBAL_FLAGS[name] ?? (command ? COMMANDS[command]?.flags[name] : undefined);
      if (!kind) throw new UsageError(command ? `unknown flag --${name} for doug ${command}` : `unknown flag --${name}`);
      i = takeFlag(argv, i, name, kind, inline, flags);
      continue;
    }
    if (!rest && /^-[^0-9.]/.test(tok)) throw new UsageError(`unknown flag ${tok}`);
    if (command === null) {
      if (!COMMANDS[tok]) throw new UsageError(`unknown command ${JSON.stringify(tok)}`);
      command = tok;
    } else {
      positionals.push(tok);
    }
  }
  return { command, positionals, flags, help };
}

/** Runs the CLI; returns the exit code (0 ok, 1 failure, 2 usage). */
export async function main(argv: string[], io: CliIo): Promise<number> {
  let args: CommandLine;
  try {
    args = parseCommandLine(argv);
  } catch (err) {
    return fail(io, err, null);
  }
  if (args.command === null) {
    (args.help ? io.stdout : io.stderr)(generalHelp());
    return args.help ? 0 : 2;
  }
  const def = COMMANDS[args.command]!;
  if (args.help) {
    io.stdout(commandHelp(def));
    return 0;
  }
  try {
    const [min, max] = def.positionals;
    if (args.positionals.length < min) throw new UsageError(`missing argument; usage: ${def.usage.split('\n')[0]}`);
    if (args.positionals.length > max) throw new UsageError(`unexpected argument ${JSON.stringify(args.positionals[max])}`);
    const ctx = makeCtx(args, io);
    return (await def.run(ctx)) ?? 0;
  } catch (err) {
    return fail(io, err, args.command);
  }
}

function makeCtx(args: CommandLine, io: CliIo): Ctx {
  const url = str(args.flags.url) ?? (io.env.DOUG_URL || undefined) ?? DEFAULT_URL;
  try {
    new URL(url);
  } catch {
    throw new UsageError(`--url: ${JSON.stringify(url)} is not a URL`);
  }
  const keyPath = resolveKeyPath({ flag: str(args.flags.key), env: io.env, home: io.home });
  const create = io.createClient ?? ((o: DougClientOptions) => new DougClient(o));
  const json = args.flags.json === true;
  let keypair: Promise<Keypair> | undefined;
  const loadKey = () => (keypair ??= loadKeypair(keyPath));
  return {
    args,
    io,
    json,
    now: (io.now ?? Date.now)(),
    keyPath,
    reader: () => create({ baseUrl: url }),
    signer: async () => create({ baseUrl: url, keypair: await loadKey() }),
    ownKey: async () => (await loadKey()).publicKey,
    key: loadKey,
    out(value, human) {
      io.stdout(json ? JSON.stringify(value, null, 2) + '\n' : human());
    },
  };
}

/**
 * Transfers `amount` from the key's wallet into custody through Umi (sdk/umi.ts, loaded only here),
 * with the memo naming `account` (default: the key's), waits for finalized, then submits it.
 */
async function depositOnChain(ctx: Ctx, client: DougClient, amount: bigint, account?: string): Promise<DepositResponse> {
  const chain = await client.chain();
  const key = await ctx.key();
  const { depositToCustody, dougUmi, tokenBalance } = await loadUmi();
  const umi = dougUmi(chain.rpcUrl, key.secretKey);
  const have = await tokenBalance(umi, { owner: key.publicKey, mint: chain.mint });
  if (have < amount) {
    throw new DougApiError({
      status: 0,
      code: 'CLI__WALLET_BALANCE_LOW',
      message: `your wallet ${key.publicKey} holds ${formatDoug(have)} DOUG on chain; ${formatDoug(amount)} was asked (locally: doug faucet AMOUNT_DOUG)`,
      context: { wallet: key.publicKey, balance: have.toString() },
    });
  }
  const signature = await depositToCustody(umi, { mint: chain.mint, decimals: chain.decimals, custodyTokenAccount: chain.custodyTokenAccount, amount, memo: depositMemo(account ?? key.publicKey) });
  ctx.io.stderr(`transfer ${signature} is final; submitting it\n`);
  return client.deposit(signature);
}

function depositText(res: DepositResponse): string {
  return keyValues([
    ['deposited', `${doug(res.amount)} DOUG`],
    ['account', res.account],
    ['signature', res.signature],
    ['slot', String(res.slot)],
  ]);
}

function fail(io: CliIo, err: unknown, command: string | null): number {
  if (err instanceof UsageError) {
    io.stderr(`error ${err.code}: ${err.message}\n`);
    io.stderr(command ? `run \`doug ${command} --help\` for usage\n` : 'run `doug help` for usage\n');
    return 2;
  }
  if (err instanceof DougApiError || err instanceof KeyFileError) {
    io.stderr(`error ${err.code}: ${err.message}\n`);
    return 1;
  }
  const message = err instanceof Error ? err.message : String(err);
  io.stderr(`error CLI__UNEXPECTED: ${message}\n`);
  if (io.env.DOUG_DEBUG && err instanceof Error && err.stack) io.stderr(err.stack + '\n');
  return 1;
}

function generalHelp(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(...names.map((n) => n.length));
  return [
    'doug: the DougAI compute marketplace from the command line',
    '',
    'usage: doug COMMAND [ARGS] [--url URL] [--key PATH] [--json]',
    '',
    'commands:',
    ...names.map((n) => `  ${n.padEnd(width)}  ${COMMANDS[n]!.summary}`),
    '',
    'global flags:',
    `  --url URL    API base URL (env DOUG_URL; default ${DEFAULT_URL})`,
    '  --key PATH   wallet key file (env DOUG_KEY; default ~/.config/doug/id.json)',
    '  --json       print exactly one JSON document instead of tables',
    '',
    'Amounts are in DOUG with up to 9 decimals (0.25, 1.5). `doug COMMAND --help` shows a command.',
    '',
  ].join('\n');
}

function commandHelp(def: CommandDef): string {
  const lines = [`usage: ${def.usage}`, '', def.summary];
  if (def.details?.length) lines.push('', ...def.details.map((d) => `  ${d}`));
  lines.push('', 'global flags: --url URL, --key PATH, --json', '');
  return lines.join('\n');
}

function pageText<T>(page: Page<T>, headers: string[], row: (item: T) => string[], right: number[], empty: string): string {
  let text = page.items.length === 0 ? `${empty}\n` : table(headers, page.items.map(row), { right });
  if (page.nextCursor) text += `more: --cursor ${page.nextCursor}\n`;
  return text;
}

function eventsText(page: Page<LedgerEntry>, empty: string): string {
  return pageText(page, ['SEQ', 'AT', 'TYPE', 'DATA'], (e) => [String(e.seq), time(e.at), e.type, JSON.stringify(e.data)], [0], empty);
}

/** A job's scalar fields, then its replicas as a table. */
function jobText(job: JobView): string {
  const { replicas, timeline: _timeline, ...rest } = job;
  let text = fieldsText(rest);
  if (Array.isArray(replicas) && replicas.length > 0) {
    text +=
      '\n' +
      table(
        ['REPLICA', 'ROLE', 'STATUS', 'PROVIDER', 'PRICE', 'REMATCHES', 'DIGEST'],
        replicas.map((r) => [cell(r.replica), cell(r.role), cell(r.status), cell(r.provider), doug(r.price), cell(r.rematches), cell(r.digest)]),
        { right: [0, 4, 5] },
      );
  }
  return text;
}

/** Any object's fields, with amounts shown in DOUG and times as ISO. */
function fieldsText(value: Record<string, unknown>): string {
  return keyValues(
    Object.entries(value).map(([k, v]): [string, string] => {
      if (/price|escrow|amount|fee|payout|cost/i.test(k) && typeof v === 'string') return [k, `${doug(v)} DOUG`];
      if (/At$/.test(k) && typeof v === 'number') return [k, time(v)];
      return [k, cell(v)];
    }),
  );
}

function str(v: FlagValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function list(v: FlagValue | undefined): string[] {
  return Array.isArray(v) ? v : [];
}

function required(ctx: Ctx, name: string): string {
  const v = str(ctx.args.flags[name]);
  if (v === undefined) throw new UsageError(`--${name} is required`);
  return v;
}

function optional<T>(ctx: Ctx, name: string, parse: (v: string) => T): T | undefined {
  const v = str(ctx.args.flags[name]);
  return v === undefined ? undefined : parse(v);
}

function orderFilters(ctx: Ctx): OrderFilters {
  const f = ctx.args.flags;
  return {
    market: optional(ctx, 'market', (v) => marketArg('--market', v)),
    owner: str(f.owner),
    maxPrice: optional(ctx, 'max-price', (v) => dougArg('--max-price', v)),
    status: optional(ctx, 'status', (v) => oneOf('--status', v, ORDER_STATUSES)),
    accelerator: str(f.accelerator),
    region: str(f.region),
    minMemoryGb: optional(ctx, 'min-memory-gb', (v) => numberArg('--min-memory-gb', v)),
    sort: optional(ctx, 'sort', (v) => oneOf('--sort', v, ORDER_SORTS)),
    ...pageArgs(ctx),
  };
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${name}: expected one of ${allowed.join(', ')}`);
  return value as T;
}

function pageArgs(ctx: Ctx): { cursor?: string; limit?: number } {
  return { cursor: str(ctx.args.flags.cursor), limit: optional(ctx, 'limit', (v) => intArg('--limit', v, 1)) };
}

function marketArg(name: string, value: string): string {
  if (!MARKET_ID.test(value)) throw new UsageError(`${name}: ${JSON.stringify(value)} is not a market id (1-32 of a-z, 0-9, -)`);
  return value;
}

/** Parses repeated `--attr key=value` into an attribute map. */
export function attributesArg(items: string[]): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const item of items) {
    const m = /^([A-Za-z][A-Za-z0-9_]{0,31})=(.+)$/.exec(item);
    if (!m) throw new UsageError(`--attr: expected key=value, got ${JSON.stringify(item)}`);
    if (m[1]! in out) throw new UsageError(`--attr: ${m[1]} is given twice`);
    out[m[1]!] = attributeValue(m[2]!);
  }
  return out;
}

/** Parses `--require` expressions: key>=v, key<=v, key=v, key==v, key!=v, key=a|b (in). */
export function requirementArg(text: string): Requirement {
  const m = /^([A-Za-z][A-Za-z0-9_]{0,31})\s*(>=|<=|!=|==|=)\s*(.+)$/.exec(text);
  if (!m) throw new UsageError(`--require: expected key>=value, key<=value, key=value, key!=value or key=a|b; got ${JSON.stringify(text)}`);
  const [, key, op, raw] = m as unknown as [string, string, string, string];
  if ((op === '=' || op === '==') && raw.includes('|')) {
    return { key, op: 'in', value: raw.split('|').map((v) => attributeValue(v.trim())) };
  }
  const ops = { '>=': 'gte', '<=': 'lte', '!=': 'neq', '==': 'eq', '=': 'eq' } as const;
  return { key, op: ops[op as keyof typeof ops], value: attributeValue(raw) };
}

if (isEntryModule(import.meta.url)) {
  const write = (stream: NodeJS.WriteStream) => (text: string) => void stream.write(text);
  process.stdout.on('error', () => {}); // a closed pipe (`doug asks | head`) is not an error
  main(process.argv.slice(2), { stdout: write(process.stdout), stderr: write(process.stderr), env: process.env }).then((code) => {
    process.exitCode = code;
  });
}

/** Reads inline input tensors from a JSON file (checked by the server). */
function readInputs(path: string): WireTensor[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`--inputs ${path}: ${(e as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new UsageError(`--inputs ${path}: must hold a JSON array of tensors`);
  return parsed as WireTensor[];
}
