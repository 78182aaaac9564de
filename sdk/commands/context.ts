import { MARKET_ID } from '../../durable-objects/contracts/api.ts';
import { ATTRIBUTE_KEY } from '../../durable-objects/contracts/schemas.ts';
import type { AttributeValue, DepositResponse, LedgerEntry, Page, Requirement } from '../../durable-objects/contracts/api.ts';
import { depositMemo } from '../../durable-objects/domain/custody/deposit.ts';
import type { Keypair } from '../../durable-objects/contracts/auth.ts';
import { formatDoug } from '../../durable-objects/domain/money.ts';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseInputs } from '../../durable-objects/contracts/tensor-json.ts';
import type { WireTensor } from '../../durable-objects/contracts/tensors.ts';
import { DougApiError, DougClient } from '../client.ts';
import type { DougClientOptions, JobView, OrderFilters } from '../client.ts';
import { UsageError, attributeValue, cell, doug, dougArg, intArg, keyValues, numberArg, table, time, type FlagKind, type FlagValue } from '../format.ts';
import { loadUmi } from '../umi-lazy.ts';
import { depositToEscrow } from '../deposit.ts';

/** What the `doug` CLI's commands share: input and output, the context a command runs in, flags and argument parsing, text output. */

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
  /** Whether stderr is a terminal: progress then updates one line in place. */
  stderrIsTTY?: boolean;
  /** How often `--wait` polls; 500 ms by default. */
  pollMs?: number;
}

/**
 * The command as the user ran it, for hints: `npm run doug --` under `npm run doug` (npm names the
 * script in npm_lifecycle_event), `npx doug` under npx, else `doug` (the package's bin).
 */
export function invocation(env: CliIo['env']): string {
  if (env.npm_lifecycle_event === 'doug') return 'npm run doug --';
  if (env.npm_command === 'exec') return 'npx doug';
  return 'doug';
}

/** Writes `doug …` (a usage line, a hint) the way the user runs the CLI. */
export function asRun(env: CliIo['env'], text: string): string {
  const run = invocation(env);
  return run === 'doug' ? text : text.replace(/(^|[\s`(])doug(?= |`|$)/gm, `$1${run}`);
}

/**
 * A file the user named, from the folder they ran the command in: `npm run` starts scripts in the
 * package's root and says where the user was in INIT_CWD.
 */
export function userPath(env: CliIo['env'], path: string): string {
  return resolve(env.INIT_CWD || process.cwd(), path);
}

export const DEFAULT_URL = 'http://127.0.0.1:8787';

export interface CommandLine {
  command: string | null;
  positionals: string[];
  flags: Record<string, FlagValue>;
  help: boolean;
}

export interface Ctx {
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
  /** A command to suggest, written the way the user runs the CLI: `ctx.cmd('deposit 25')`. */
  cmd(rest: string): string;
  /** A file path from the command line, resolved where the user ran it. */
  path(p: string): string;
}

export interface CommandDef {
  usage: string;
  summary: string;
  flags: Record<string, FlagKind>;
  positionals: [min: number, max: number];
  /** Flag descriptions for `--help`. */
  details?: string[];
  run: (ctx: Ctx) => Promise<number | void>;
}

export const GLOBAL_FLAGS: Record<string, FlagKind> = { url: 'string', key: 'string', json: 'boolean' };
export const PAGE_FLAGS: Record<string, FlagKind> = { cursor: 'string', limit: 'string' };
export const ORDER_FILTER_FLAGS: Record<string, FlagKind> = {
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
export const ORDER_FILTER_DETAILS = [
  '--max-price DOUG      only orders priced at or below, e.g. 0.25',
  '--status S            open (default), matched, cancelled, expired or all',
  '--sort S              price, -price, newest or memory',
  '--cursor C            the cursor printed under the previous page',
];
export const ORDER_STATUSES = ['open', 'matched', 'cancelled', 'expired', 'all'] as const;
export const ORDER_SORTS = ['price', '-price', 'newest', 'memory'] as const;

/**
 * Transfers `amount` from the key's wallet into custody through Umi (sdk/umi.ts, loaded only here),
 * with the memo naming `account` (default: the key's), waits for finalized, then submits it.
 */
export async function depositOnChain(ctx: Ctx, client: DougClient, amount: bigint, account?: string): Promise<DepositResponse> {
  const chain = await client.chain();
  const key = await ctx.key();
  const { depositToCustody, dougUmi, tokenBalance } = await loadUmi();
  const umi = dougUmi(chain.rpcUrl, key.secretKey);
  const have = await tokenBalance(umi, { owner: key.publicKey, mint: chain.mint });
  if (have < amount) {
    throw new DougApiError({
      status: 0,
      code: 'CLI__WALLET_BALANCE_LOW',
      message: `your wallet ${key.publicKey} holds ${formatDoug(have)} DOUG on chain; ${formatDoug(amount)} was asked (locally: ${ctx.cmd('faucet AMOUNT_DOUG')})`,
      context: { wallet: key.publicKey, balance: have.toString() },
    });
  }
  if (chain.escrow) {
    // Escrow custody: into the wallet's own escrow (opened on first use), which credits the wallet itself.
    if (account !== undefined && account !== key.publicKey) throw new UsageError('--for: a deposit into an escrow credits the wallet that makes it; deposit from that account’s own key');
    const { signature } = await depositToEscrow({ chain: { ...chain, escrow: chain.escrow }, wallet: key, amount });
    ctx.io.stderr(`deposit ${signature} into your escrow is final; submitting it\n`);
    return client.deposit(signature);
  }
  const signature = await depositToCustody(umi, { mint: chain.mint, decimals: chain.decimals, custodyTokenAccount: chain.custodyTokenAccount, amount, memo: depositMemo(account ?? key.publicKey) });
  ctx.io.stderr(`transfer ${signature} is final; submitting it\n`);
  return client.deposit(signature);
}

export function depositText(res: DepositResponse): string {
  return keyValues([
    ['deposited', `${doug(res.amount)} DOUG`],
    ['account', res.account],
    ['signature', res.signature],
    ['slot', String(res.slot)],
  ]);
}

export function pageText<T>(page: Page<T>, headers: string[], row: (item: T) => string[], right: number[], empty: string): string {
  let text = page.items.length === 0 ? `${empty}\n` : table(headers, page.items.map(row), { right });
  if (page.nextCursor) text += `more: --cursor ${page.nextCursor}\n`;
  return text;
}

export function eventsText(page: Page<LedgerEntry>, empty: string): string {
  return pageText(page, ['SEQ', 'AT', 'TYPE', 'DATA'], (e) => [String(e.seq), time(e.at), e.type, JSON.stringify(e.data)], [0], empty);
}

/** A job's scalar fields, then its replicas as a table. */
export function jobText(job: JobView): string {
  const { replicas, timeline: _timeline, failure, ...rest } = job as JobView & { failure?: { reason?: unknown } | null };
  // A failed job says why in words (the job view's failure.reason, domain/job/failure.ts).
  let text = fieldsText(typeof failure?.reason === 'string' ? { ...rest, failure: failure.reason } : rest);
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
export function fieldsText(value: Record<string, unknown>): string {
  return keyValues(
    Object.entries(value).map(([k, v]): [string, string] => {
      if (/price|escrow|amount|fee|payout|cost/i.test(k) && typeof v === 'string') return [k, `${doug(v)} DOUG`];
      if (/At$/.test(k) && typeof v === 'number') return [k, time(v)];
      return [k, cell(v)];
    }),
  );
}

export function str(v: FlagValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function list(v: FlagValue | undefined): string[] {
  return Array.isArray(v) ? v : [];
}

export function required(ctx: Ctx, name: string): string {
  const v = str(ctx.args.flags[name]);
  if (v === undefined) throw new UsageError(`--${name} is required`);
  return v;
}

export function optional<T>(ctx: Ctx, name: string, parse: (v: string) => T): T | undefined {
  const v = str(ctx.args.flags[name]);
  return v === undefined ? undefined : parse(v);
}

export function orderFilters(ctx: Ctx): OrderFilters {
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

export function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${name}: expected one of ${allowed.join(', ')}`);
  return value as T;
}

export function pageArgs(ctx: Ctx): { cursor?: string; limit?: number } {
  return { cursor: str(ctx.args.flags.cursor), limit: optional(ctx, 'limit', (v) => intArg('--limit', v, 1)) };
}

export function marketArg(name: string, value: string): string {
  if (!MARKET_ID.test(value)) throw new UsageError(`${name}: ${JSON.stringify(value)} is not a market id (1-32 of a-z, 0-9, -)`);
  return value;
}

/** The API's attribute key pattern, to be matched inside a flag's text. */
const KEY = ATTRIBUTE_KEY.source.slice(1, -1);

/** Parses repeated `--attr key=value` into an attribute map. */
export function attributesArg(items: string[]): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const item of items) {
    const m = new RegExp(`^(${KEY})=(.+)$`).exec(item);
    if (!m) throw new UsageError(`--attr: expected key=value, got ${JSON.stringify(item)}`);
    if (m[1]! in out) throw new UsageError(`--attr: ${m[1]} is given twice`);
    out[m[1]!] = attributeValue(m[2]!);
  }
  return out;
}

/** Parses `--require` expressions: key>=v, key<=v, key=v, key==v, key!=v, key=a|b (in). */
export function requirementArg(text: string): Requirement {
  const m = new RegExp(`^(${KEY})\\s*(>=|<=|!=|==|=)\\s*(.+)$`).exec(text);
  if (!m) throw new UsageError(`--require: expected key>=value, key<=value, key=value, key!=value or key=a|b; got ${JSON.stringify(text)}`);
  const [, key, op, raw] = m as unknown as [string, string, string, string];
  if ((op === '=' || op === '==') && raw.includes('|')) {
    return { key, op: 'in', value: raw.split('|').map((v) => attributeValue(v.trim())) };
  }
  const ops = { '>=': 'gte', '<=': 'lte', '!=': 'neq', '==': 'eq', '=': 'eq' } as const;
  return { key, op: ops[op as keyof typeof ops], value: attributeValue(raw) };
}

/**
 * Reads input tensors from a JSON file: the plain form (`{"x": {"dtype", "dims", "values"}}`, as the
 * portal takes them) or the wire form (`[{"name", "dtype", "dims", "data"}]`); contracts/tensor-json.ts.
 */
export function readInputs(ctx: Ctx, file: string, flag = '--inputs'): WireTensor[] {
  let text: string;
  try {
    text = readFileSync(ctx.path(file), 'utf8');
  } catch (e) {
    throw new UsageError(`${flag} ${file}: ${(e as Error).message}`);
  }
  const read = parseInputs(text);
  if (!read.ok) throw new UsageError(`${flag} ${file}: ${read.error}`);
  return read.tensors;
}
