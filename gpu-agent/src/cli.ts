#!/usr/bin/env -S node --import tsx
import { readFile } from 'node:fs/promises';
import { availableParallelism, homedir } from 'node:os';
import { join, resolve } from 'node:path';

import { fingerprintOf } from '../../durable-objects/contracts/agent.ts';
import type { Hardware, RuntimeFingerprint } from '../../durable-objects/contracts/agent.ts';
import { MARKET_ID } from '../../durable-objects/contracts/api.ts';
import type { AttributeValue } from '../../durable-objects/contracts/api.ts';
import { base64UrlDecode, createDelegation, decodePublicKey, DELEGATION_SCOPES, delegationMessage, sha256Hex, verifyText } from '../../durable-objects/contracts/auth.ts';
import type { Delegation, DelegationScope, Keypair } from '../../durable-objects/contracts/auth.ts';
import { MAX_PREFETCH } from '../../durable-objects/domain/dispatch/index.ts';
import { formatDoug } from '../../durable-objects/domain/money.ts';
import { LIMITS } from '../../durable-objects/domain/market/validate.ts';
import { API_LIMITS, ATTRIBUTE_KEY } from '../../durable-objects/contracts/schemas.ts';
import { DougApiError, DougClient } from '../../sdk/client.ts';
import type { DougClientOptions } from '../../sdk/client.ts';
import { UsageError, attributeValue, dougArg, durationArg, intArg, isEntryModule, takeFlag, type FlagKind } from '../../sdk/format.ts';
import { KeyFileError, loadKeypair, loadOrCreateKeypair } from '../../sdk/keyfile.ts';
import { StageHost } from './chat/stage-host.ts';
import { Agent, faultFromEnv, lineLogger, runnerExecutor, stageDelayFromEnv, STAGE_DELAY_ENV } from './agent.ts';
import type { Executor, Logger } from './agent.ts';
// Static on purpose: tsx fails to parse a file with both a shebang and a dynamic import().
import { detectHardware } from './exec/hardware.ts';
import { ModelCache } from './exec/model-cache.ts';
import { RunnerPool } from './exec/runner-pool.ts';
import { probeRuntime } from './exec/runtime.ts';

/**
 * `doug-agent`: lists this machine as an ask, connects to the market, works, and on SIGINT or
 * SIGTERM drains, withdraws the ask and exits 0. `doug-agent key` prints the agent key (making it
 * if missing), for a wallet to authorise. `main(argv, io)` does everything and returns the exit
 * code (0 ok, 1 failure, 2 usage), so tests run it in-process with their own probes, executor and
 * stop signal.
 */

export const DEFAULT_AGENT_KEY_PATH = '~/.config/doug/agent.json';
export const DEFAULT_MODEL_DIR = '~/.cache/doug/models';
const DEFAULT_TTL_MS = 3_600_000;
const DEFAULT_DRAIN_MS = 60_000;
/** A wallet's delegation to the agent key lasts this long at least, and is renewed before it lapses. */
const DELEGATION_MS = 24 * 3_600_000;
/** What the agent needs a wallet to delegate to its key. */
export const AGENT_SCOPES: readonly DelegationScope[] = ['asks', 'work'];
/** A `--delegation` the agent cannot renew is warned about this long before it expires. */
export const DELEGATION_WARN_MS = 10 * 60_000;
/** setTimeout's longest delay (~24.8 days); longer ones fire at once, so they are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface Probe {
  hardware: Hardware;
  runtime: RuntimeFingerprint;
  /** One line on the execution provider chosen. */
  log: string;
}

export interface AgentCliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  /** Home folder for `~`; the OS home by default. */
  home?: string;
  now?: () => number;
  createClient?: (o: DougClientOptions) => DougClient;
  /** Detects hardware and runtime; exec/hardware.ts and exec/runtime.ts by default. */
  probe?: () => Promise<Probe>;
  /** Builds the executor; ONNX runs in threads (one per slot) over the model cache by default. */
  createExecutor?: (o: ExecutorOptions) => Promise<Executor>;
  /** Calls the handler on each stop request (SIGINT/SIGTERM by default); returns an unsubscribe. */
  onStop?: (handler: (signal: string) => void) => () => void;
}

interface Options {
  server: string;
  market: string;
  price: bigint;
  capacity: number;
  /** Assigns held beyond the slots (the prefetch window); the ask lists that many more slots. */
  prefetch: number;
  /** `--threads`: threads running models, or null for the default (defaultThreads). */
  threads: number | null;
  attributes: Record<string, AttributeValue>;
  keyPath: string;
  walletKeyPath: string | null;
  /** `--delegation`: the token (or its JSON) as given, or the file holding it. */
  delegation: { text: string } | { path: string } | null;
  modelDir: string;
  ttlMs: number;
  drainTimeoutMs: number;
  quiet: boolean;
  /** `--chat-model DIR --stages N --hold I,J`: chat stages to hold (collaborative inference), or null. */
  chat: { dir: string; stages: number; hold: number[]; name?: string; direct?: { host: string; port: number } } | null;
}

const FLAGS: Record<string, FlagKind> = {
  server: 'string',
  market: 'string',
  price: 'string',
  capacity: 'string',
  prefetch: 'string',
  threads: 'string',
  attr: 'list',
  key: 'string',
  'wallet-key': 'string',
  delegation: 'string',
  'model-dir': 'string',
  ttl: 'string',
  'drain-timeout': 'string',
  quiet: 'boolean',
  'chat-model': 'string',
  'chat-name': 'string',
  stages: 'string',
  hold: 'string',
  'direct-port': 'string',
  'direct-host': 'string',
  help: 'boolean',
};
const KEY_FLAGS: Record<string, FlagKind> = { key: 'string', help: 'boolean' };

export const USAGE = `usage: doug-agent --server URL --market M --price DOUG --capacity N [options]
       doug-agent key [--key FILE]

Lists this machine on a DougAI market, takes work over a WebSocket and runs it with onnxruntime.
SIGINT or SIGTERM drains (finishes held work, takes no more), withdraws the ask and exits 0;
a second signal stops at once.

\`doug-agent key\` prints the agent key's public key (only that, on stdout), creating the key file
if it is missing: the key a wallet authorises on the portal's /provide page.

  --server URL          API base URL (env DOUG_URL)
  --market M            market id, e.g. cpu, gpu-24gb
  --price DOUG          price per work unit, e.g. 0.01
  --capacity N          concurrent jobs (slots), 1-1024
  --prefetch N          hold up to N more assigns (0-${MAX_PREFETCH}, default 0), each started the moment a
                        slot frees, so short jobs run back to back; the ask lists N more slots,
                        and held work must still start within a lease's length of its match
  --threads N           threads running models, 1 to the capacity; each loads its own copy of a
                        model (default: the capacity, at most the CPU's cores, with the CPU
                        execution provider; 1 with CUDA, so one copy sits in the GPU's memory)
  --attr key=value      extra ask attribute (repeatable); detected ones: accelerator, memoryGb, cores, fingerprint
  --key FILE            the agent's hot key (default ${DEFAULT_AGENT_KEY_PATH}; created, mode 0600, if
                        missing, except with --delegation, which names an existing key)
  --delegation TOKEN    the provider wallet's delegation of "asks" and "work" to the agent key,
                        as the portal's /provide page makes it (base64url JSON; @FILE reads it
                        from a file, token or JSON). Checked at start. The agent cannot renew it:
                        its asks end when it does; it warns 10 minutes before, and at the end
                        drains held work and exits 1
  --wallet-key FILE     provider wallet key file: the agent delegates "asks" and "work" to its
                        own key and renews that itself (not with --delegation)
                        (with neither, the agent key is the provider wallet)
  --model-dir DIR       model cache (default ${DEFAULT_MODEL_DIR})
  --ttl DURATION        ask lifetime, re-listed before it ends (default 1h)
  --drain-timeout DUR   how long a drain waits for held work (default 60s)
  --quiet               only warnings and errors on stderr

Chat (collaborative inference: a language model served as a route of stages across agents):
  --chat-model DIR      a model folder: config.json, tokenizer.json and model.onnx in the KV-cache
                        layout Hugging Face Optimum exports (examples/chat is one)
  --stages N            cut it into N stages of even layer ranges (default 1: the whole model)
  --hold I[,J…]         the stages this agent holds and announces (default: all of them)
  --chat-name NAME      the model's name in /v1/models (default: config.json's name_or_path)
  --direct-port N       take steps straight from other agents on this port (0: any free one) and
                        send outputs straight to them, the server relaying only when they cannot
  --direct-host HOST    the address other agents reach it at (default 127.0.0.1)

Test only: DOUG_AGENT_FAULT=wrong-output corrupts every result (to exercise verification);
DOUG_AGENT_STAGE_DELAY_MS=N answers every chat stage step N ms late (a slower machine's stand-in).
`;

/** Splits argv into flag values; unknown flags and missing values are usage errors. */
export function parseArgs(argv: string[], flags: Record<string, FlagKind> = FLAGS): Record<string, string | string[] | boolean> {
  const out: Record<string, string | string[] | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === '-h') {
      out.help = true;
      continue;
    }
    if (!tok.startsWith('--')) throw new UsageError(`unexpected argument ${JSON.stringify(tok)}`);
    const eq = tok.indexOf('=');
    const name = eq === -1 ? tok.slice(2) : tok.slice(2, eq);
    const kind = flags[name];
    if (!kind) throw new UsageError(`unknown flag --${name}`);
    i = takeFlag(argv, i, name, kind, eq === -1 ? undefined : tok.slice(eq + 1), out);
  }
  return out;
}

function options(argv: string[], io: AgentCliIo): Options {
  const f = parseArgs(argv);
  const str = (name: string): string | undefined => (typeof f[name] === 'string' ? (f[name] as string) : undefined);
  const need = (name: string): string => {
    const v = str(name);
    if (v === undefined) throw new UsageError(`--${name} is required`);
    return v;
  };
  const server = str('server') ?? (io.env.DOUG_URL || undefined);
  if (!server) throw new UsageError('--server is required (or set DOUG_URL)');
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new UsageError(`--server: ${JSON.stringify(server)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('--server must be an http or https URL');
  const market = need('market');
  if (!MARKET_ID.test(market)) throw new UsageError(`--market: ${JSON.stringify(market)} is not a market id (1-32 of a-z, 0-9, -)`);
  const price = dougArg('--price', need('price'));
  const capacity = intArg('--capacity', need('capacity'), 1);
  if (capacity > LIMITS.capacity.max) throw new UsageError(`--capacity: at most ${LIMITS.capacity.max}`);
  const prefetch = str('prefetch') === undefined ? 0 : intArg('--prefetch', str('prefetch')!, 0);
  if (prefetch > MAX_PREFETCH) throw new UsageError(`--prefetch: at most ${MAX_PREFETCH}`);
  if (capacity + prefetch > LIMITS.capacity.max) throw new UsageError(`--capacity and --prefetch: at most ${LIMITS.capacity.max} together (the ask's slots)`);
  const threads = str('threads') === undefined ? null : intArg('--threads', str('threads')!, 1);
  if (threads !== null && threads > capacity) throw new UsageError(`--threads: at most the capacity (${capacity}); more threads than slots would stand idle`);
  const ttlMs = str('ttl') === undefined ? DEFAULT_TTL_MS : durationArg('--ttl', str('ttl')!);
  if (ttlMs > API_LIMITS.maxTtlMs) throw new UsageError(`--ttl: at most ${API_LIMITS.maxTtlMs / 86_400_000}d`);
  const drainTimeoutMs = str('drain-timeout') === undefined ? DEFAULT_DRAIN_MS : durationArg('--drain-timeout', str('drain-timeout')!);
  const home = io.home ?? homedir();
  const wallet = str('wallet-key');
  const delegation = str('delegation');
  if (wallet !== undefined && delegation !== undefined) {
    throw new UsageError('--delegation and --wallet-key cannot be used together: --wallet-key signs (and renews) a delegation from a key file, --delegation takes one the wallet signed elsewhere');
  }
  if (delegation !== undefined && delegation.trim() === '') throw new UsageError('--delegation: empty; give the token from the portal, or @FILE');
  const chatDir = str('chat-model');
  if (chatDir === undefined && (str('stages') ?? str('hold') ?? str('chat-name') ?? str('direct-port') ?? str('direct-host')) !== undefined) throw new UsageError('--stages, --hold, --chat-name and --direct-port go with --chat-model');
  const directPort = str('direct-port') === undefined ? null : intArg('--direct-port', str('direct-port')!, 0);
  if (directPort !== null && directPort > 65_535) throw new UsageError('--direct-port: at most 65535');
  const directHost = str('direct-host') ?? '127.0.0.1';
  if (!/^[A-Za-z0-9.:-]{1,180}$/.test(directHost)) throw new UsageError('--direct-host: a host name or address');
  const stages = str('stages') === undefined ? 1 : intArg('--stages', str('stages')!, 1);
  const hold = str('hold') === undefined ? Array.from({ length: stages }, (_, i) => i) : str('hold')!.split(',').map((x) => intArg('--hold', x.trim(), 0));
  if (hold.some((i) => i >= stages)) throw new UsageError(`--hold: stages are numbered 0 to ${stages - 1}`);
  return {
    server: url.toString().replace(/\/+$/, ''),
    market,
    price,
    capacity,
    prefetch,
    threads,
    attributes: attributesArg(Array.isArray(f.attr) ? f.attr : []),
    keyPath: expandHome(str('key') ?? DEFAULT_AGENT_KEY_PATH, home),
    walletKeyPath: wallet === undefined ? null : expandHome(wallet, home),
    delegation: delegation === undefined ? null : delegation.startsWith('@') ? { path: expandHome(delegation.slice(1), home) } : { text: delegation },
    modelDir: expandHome(str('model-dir') ?? DEFAULT_MODEL_DIR, home),
    ttlMs,
    drainTimeoutMs,
    quiet: f.quiet === true,
    chat: chatDir === undefined ? null : { dir: expandHome(chatDir, home), stages, hold: [...new Set(hold)], ...(str('chat-name') ? { name: str('chat-name')! } : {}), ...(directPort !== null ? { direct: { host: directHost, port: directPort } } : {}) },
  };
}

/** `key=value` with the API's attribute key pattern and value length. */
const ATTRIBUTE_ARG = new RegExp(`^(${ATTRIBUTE_KEY.source.slice(1, -1)})=(.{1,${LIMITS.attributeStringLength}})$`);

/** Parses repeated `--attr key=value`. */
export function attributesArg(items: string[]): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const item of items) {
    const m = ATTRIBUTE_ARG.exec(item);
    if (!m) throw new UsageError(`--attr: expected key=value (value 1-${LIMITS.attributeStringLength} characters), got ${JSON.stringify(item)}`);
    if (m[1]! in out) throw new UsageError(`--attr: ${m[1]} is given twice`);
    out[m[1]!] = attributeValue(m[2]!);
  }
  return out;
}

/**
 * The `fingerprint` ask attribute: `fingerprintOf(runtime)` when it fits the 64 characters an
 * attribute may hold, else its provider/platform head with 16 hex digits of the full string's
 * SHA-256 (CPU feature lists make it long). Equal runtimes give equal attributes either way.
 */
export async function fingerprintAttribute(runtime: RuntimeFingerprint): Promise<string> {
  const full = fingerprintOf(runtime);
  if (full.length <= 64) return full;
  const head = [`ort-${runtime.onnxruntime}`, runtime.executionProvider, runtime.platform, runtime.arch].join('/');
  return `${head}/${(await sha256Hex(full)).slice(0, 16)}`.slice(0, 64);
}

/** Ask attributes detected from the machine, then the `--attr` ones (which win). */
export async function askAttributes(probe: Probe, extra: Record<string, AttributeValue>): Promise<Record<string, AttributeValue>> {
  const gpu = probe.runtime.executionProvider === 'cuda' ? probe.hardware.gpus[0] : undefined;
  return {
    accelerator: (gpu?.name ?? 'cpu').slice(0, 64),
    memoryGb: gpu?.memoryGb ?? probe.hardware.memoryGb,
    cores: probe.hardware.cores,
    fingerprint: await fingerprintAttribute(probe.runtime),
    ...extra,
  };
}

/**
 * Reads a delegation as `--delegation` gives it: the header's base64url JSON, or the JSON itself.
 * Only the five fields are kept; UsageError says what is wrong.
 */
export function decodeDelegation(text: string): Delegation {
  const t = text.trim();
  let value: unknown;
  try {
    if (!t.startsWith('{') && !/^[A-Za-z0-9_-]+$/.test(t)) throw new Error('not base64url');
    value = JSON.parse(t.startsWith('{') ? t : new TextDecoder('utf-8', { fatal: true }).decode(base64UrlDecode(t)));
  } catch {
    throw new UsageError("--delegation: not a delegation token (the base64url text the portal's /provide page gives) nor its JSON");
  }
  const d = (value !== null && typeof value === 'object' ? value : {}) as Partial<Record<keyof Delegation, unknown>>;
  if (
    typeof d.wallet !== 'string' ||
    !decodePublicKey(d.wallet) ||
    typeof d.delegate !== 'string' ||
    typeof d.signature !== 'string' ||
    typeof d.expiresAt !== 'number' ||
    !Number.isSafeInteger(d.expiresAt) ||
    !Array.isArray(d.scopes) ||
    !d.scopes.every((s) => (DELEGATION_SCOPES as readonly unknown[]).includes(s))
  ) {
    throw new UsageError('--delegation: the token is incomplete; it needs wallet, delegate, scopes, expiresAt and signature');
  }
  return { wallet: d.wallet, delegate: d.delegate, scopes: d.scopes as DelegationScope[], expiresAt: d.expiresAt, signature: d.signature };
}

/**
 * Checks a `--delegation` before the agent connects: it must name this agent key, carry the
 * wallet's valid signature, grant "asks" and "work" and not have expired. UsageError otherwise.
 */
export async function checkDelegation(d: Delegation, o: { agentKey: string; now: number }): Promise<void> {
  if (d.delegate !== o.agentKey) {
    throw new UsageError(`--delegation: it authorises the agent key ${d.delegate}, but this agent's key is ${o.agentKey}; authorise ${o.agentKey} on the portal, or pass --key with the file of ${d.delegate}`);
  }
  const { signature, ...unsigned } = d;
  if (!(await verifyText(d.wallet, signature, delegationMessage(unsigned)))) {
    throw new UsageError(`--delegation: the signature of wallet ${d.wallet} does not verify (was the token altered or cut short?)`);
  }
  const missing = AGENT_SCOPES.filter((s) => !d.scopes.includes(s));
  if (missing.length > 0) {
    throw new UsageError(`--delegation: it does not grant ${missing.map((s) => `"${s}"`).join(' or ')}; the agent needs "asks" and "work"`);
  }
  if (d.expiresAt <= o.now) {
    throw new UsageError(`--delegation: it expired at ${new Date(d.expiresAt).toISOString()}; authorise the agent again on the portal's /provide page`);
  }
}

/** `doug-agent key`: prints the agent's public key, creating the key file if it is missing. */
async function printKey(argv: string[], io: AgentCliIo): Promise<number> {
  const f = parseArgs(argv, KEY_FLAGS);
  if (f.help === true) {
    io.stdout(USAGE);
    return 0;
  }
  const path = expandHome(typeof f.key === 'string' ? f.key : DEFAULT_AGENT_KEY_PATH, io.home ?? homedir());
  const key = await loadOrCreateKey(path, lineLogger({ write: io.stderr, now: io.now }));
  io.stdout(`${key.publicKey}\n`);
  return 0;
}

/** Runs the agent; returns the exit code (0 ok, 1 failure, 2 usage). */
export async function main(argv: string[], io: AgentCliIo): Promise<number> {
  let o: Options;
  try {
    if (argv[0] === 'key') return await printKey(argv.slice(1), io);
    if (argv.includes('--help') || argv.includes('-h')) {
      io.stdout(USAGE);
      return 0;
    }
    o = options(argv, io);
  } catch (err) {
    return fail(io, err);
  }
  const log = lineLogger({ write: io.stderr, quiet: o.quiet, now: io.now });
  try {
    return await serve(o, io, log);
  } catch (err) {
    return fail(io, err);
  }
}

async function serve(o: Options, io: AgentCliIo, log: Logger): Promise<number> {
  const now = io.now ?? Date.now;
  const fault = faultFromEnv(io.env);
  const stageDelayMs = stageDelayFromEnv(io.env);
  if (stageDelayMs > 0) log.warn(`${STAGE_DELAY_ENV}=${stageDelayMs}, FOR TESTS ONLY: every chat stage step is answered that late`);
  const agentKey = o.delegation ? await loadDelegatedKey(o.keyPath) : await loadOrCreateKey(o.keyPath, log);
  const wallet = o.walletKeyPath ? await loadKeypair(o.walletKeyPath) : null;
  // A delegation given with --delegation: checked now, before anything connects; never renewed.
  const given = o.delegation ? await delegationFrom(o.delegation) : null;
  if (given) {
    await checkDelegation(given, { agentKey: agentKey.publicKey, now: now() });
    log.info(`agent key ${agentKey.publicKey}, acting for wallet ${given.wallet} by its delegation (asks, work) until ${new Date(given.expiresAt).toISOString()}; the agent cannot renew it: its asks end then`);
  } else {
    log.info(`agent key ${agentKey.publicKey}${wallet ? `, acting for wallet ${wallet.publicKey}` : ' (also the provider wallet)'}`);
  }

  const probe = await (io.probe ?? defaultProbe)();
  const hw = probe.hardware;
  log.info(`hardware: ${hw.cpuModel}, ${hw.cores} cores, ${hw.memoryGb} GB${hw.gpus.length ? `, ${hw.gpus.map((g) => `${g.name} (${g.memoryGb} GB)`).join(', ')}` : ', no GPU'}`);
  log.info(probe.log);
  const attributes = await askAttributes(probe, o.attributes);
  const executor = await (io.createExecutor ?? defaultExecutor)({ runtime: probe.runtime, server: o.server, modelDir: o.modelDir, threads: o.threads ?? defaultThreads(o.capacity, probe.runtime.executionProvider) });

  const createClient = io.createClient ?? ((c: DougClientOptions) => new DougClient(c));
  let delegation: Delegation | undefined = given ?? undefined;
  const renewDelegation = async (): Promise<void> => {
    if (!wallet) return;
    if (delegation && delegation.expiresAt > now() + o.ttlMs + 10 * 60_000) return;
    delegation = await createDelegation(wallet, { delegate: agentKey.publicKey, scopes: ['asks', 'work'], expiresAt: now() + Math.max(DELEGATION_MS, 2 * o.ttlMs) });
    log.info(`wallet delegated asks and work to the agent key until ${new Date(delegation.expiresAt).toISOString()}`);
  };
  const client = (): DougClient => createClient({ baseUrl: o.server, keypair: agentKey, delegation });

  const list = async (): Promise<{ id: string; expiresAt: number }> => {
    await renewDelegation();
    // An ask may not outlive the delegation it is listed by when the agent cannot renew that.
    const expiresAt = given ? Math.min(now() + o.ttlMs, given.expiresAt) : now() + o.ttlMs;
    // The market matches up to the ask's capacity at once: the window's work needs slots there too.
    const res = await client().placeAsk({ market: o.market, price: o.price, capacity: o.capacity + o.prefetch, attributes, expiresAt });
    const id = res.order?.id;
    if (typeof id !== 'string') throw new Error('the server answered the ask without an order id');
    const end = given && expiresAt === given.expiresAt ? ", when the wallet's delegation ends" : '';
    log.info(`listed ask ${id} on ${o.market}: ${o.capacity + o.prefetch} slot(s)${o.prefetch > 0 ? ` (${o.capacity} running, ${o.prefetch} prefetched)` : ''} at ${formatDoug(o.price)} DOUG, until ${new Date(expiresAt).toISOString()}${end}`);
    return { id, expiresAt };
  };

  let directAddress: string | null = null;
  const stageHost = o.chat ? await StageHost.open(o.chat.dir, { stages: o.chat.stages, hold: o.chat.hold, ...(o.chat.name ? { name: o.chat.name } : {}), corrupt: fault === 'wrong-output', delayMs: stageDelayMs }) : null;
  if (stageHost) {
    const m = stageHost.folder.manifest;
    const direct = o.chat!.direct ? await stageHost.listen(o.chat!.direct.host, o.chat!.direct.port) : null;
    if (direct) directAddress = direct;
    log.info(`chat model ${m.name} (${m.layers} layers, manifest ${stageHost.folder.manifestSha256.slice(0, 12)}): holding stage(s) ${o.chat!.hold.map((i) => `${i} (layers ${m.stages[i]!.from}-${m.stages[i]!.to})`).join(', ')} of ${m.stages.length}`);
  }
  let ask = await list();
  const agent = new Agent({
    capacity: o.capacity,
    prefetch: o.prefetch,
    executor,
    fault,
    log,
    connection: {
      server: o.server,
      market: o.market,
      keypair: agentKey,
      hello: () => ({ askId: ask.id, hardware: probe.hardware, runtime: probe.runtime, ...(delegation ? { delegation } : {}), ...(stageHost ? { stages: stageHost.announcements() } : {}), ...(directAddress ? { direct: directAddress } : {}) }),
    },
    ...(stageHost ? { stages: stageHost } : {}),
  });

  // Keep the ask alive: re-list at 80% of its life, switch the socket to the new ask, withdraw the old.
  // An ask that ends with a given delegation is not re-listed: the delegation's end stops the agent.
  let cancelRenewal = (): void => undefined;
  let stopping = false;
  const scheduleRenewal = (inMs: number) => {
    cancelRenewal = timerAt(now() + Math.max(0, inMs), now, () => void renew());
  };
  const scheduleNext = (listed: { expiresAt: number }) => {
    if (given && listed.expiresAt >= given.expiresAt) return;
    scheduleRenewal((listed.expiresAt - now()) * 0.8);
  };
  const renew = async (): Promise<void> => {
    if (stopping) return;
    const old = ask;
    try {
      ask = await list();
    } catch (err) {
      const retry = Math.min(30_000, Math.max(1_000, (old.expiresAt - now()) / 4));
      log.warn(`re-listing failed (${describe(err)}); retrying in ${Math.round(retry)} ms`);
      if (!stopping) scheduleRenewal(retry);
      return;
    }
    if (stopping) {
      await withdraw(ask.id);
      ask = old;
      return;
    }
    agent.reconnect(`ask re-listed as ${ask.id}`);
    await withdraw(old.id);
    scheduleNext(ask);
  };
  const withdraw = async (id: string): Promise<boolean> => {
    try {
      await client().cancelAsk(id);
      log.info(`withdrew ask ${id}`);
      return true;
    } catch (err) {
      if (err instanceof DougApiError && err.code === 'MARKET__ORDER_CLOSED') {
        log.info(`ask ${id} was already closed`);
        return true;
      }
      // Told to stop while the server is gone (npm start stops its agents first; a server can still
      // die first): no warning, the market withdraws an ask whose agent stays away (agentGraceMs).
      if (stopping && err instanceof DougApiError && err.code === 'CLIENT__NETWORK') log.info(`ask ${id} not withdrawn, the server is unreachable (${describe(err)}); the market ends it once its agent stays away`);
      else log.warn(`could not withdraw ask ${id}: ${describe(err)}`);
      return false;
    }
  };

  // The first signal (or the given delegation's end) drains; a second signal stops at once.
  let resolveStop: (why: { signal: string } | { expired: true }) => void = () => undefined;
  const stopRequested = new Promise<{ signal: string } | { expired: true }>((r) => (resolveStop = r));
  const unsubscribe = (io.onStop ?? processSignals)((signal) => {
    if (!stopping) {
      stopping = true;
      resolveStop({ signal });
      return;
    }
    log.warn(`${signal} again: stopping now, abandoning held work`);
    unsubscribe();
    void agent.stop();
  });
  const cancelTimers: (() => void)[] = [];
  if (given) {
    const at = new Date(given.expiresAt).toISOString();
    cancelTimers.push(
      timerAt(given.expiresAt - DELEGATION_WARN_MS, now, () => {
        const minutes = Math.max(0, Math.round((given.expiresAt - now()) / 60_000));
        log.warn(`the wallet's delegation to this agent expires at ${at} (in ${minutes} min) and the agent cannot renew it: authorise the agent again on the portal's /provide page and restart it with the new --delegation`);
      }),
      timerAt(given.expiresAt, now, () => {
        if (stopping) return;
        stopping = true;
        resolveStop({ expired: true });
      }),
    );
  }

  agent.start();
  scheduleNext(ask);
  const why = await stopRequested;
  cancelRenewal();
  for (const cancel of cancelTimers) cancel();
  if ('expired' in why) {
    log.warn(`the wallet's delegation expired at ${new Date(given!.expiresAt).toISOString()}: draining (up to ${o.drainTimeoutMs} ms), then stopping`);
  } else {
    log.info(`${why.signal}: draining (up to ${o.drainTimeoutMs} ms)`);
  }
  const outcome = await agent.drain({ timeoutMs: o.drainTimeoutMs });
  log.info(`drained: ${outcome.finished} answer(s) delivered, ${outcome.abandoned} abandoned`);
  if ('expired' in why) {
    // The ask ended with the delegation, and the server refuses requests under it now: nothing to withdraw.
    unsubscribe();
    io.stderr(`error AGENT__DELEGATION_EXPIRED: the wallet's delegation ended at ${new Date(given!.expiresAt).toISOString()} and the agent stopped; authorise it again on the portal's /provide page and restart it with the new --delegation\n`);
    return 1;
  }
  const withdrawn = await withdraw(ask.id);
  unsubscribe();
  log.info('stopped');
  return withdrawn ? 0 : 1;
}

/** The `--delegation` value's delegation: the text itself, or the file's (token or JSON). */
async function delegationFrom(source: { text: string } | { path: string }): Promise<Delegation> {
  if ('text' in source) return decodeDelegation(source.text);
  let text: string;
  try {
    text = await readFile(source.path, 'utf8');
  } catch (err) {
    throw new UsageError(`--delegation: cannot read ${source.path} (${(err as NodeJS.ErrnoException).code ?? describe(err)})`);
  }
  return decodeDelegation(text);
}

/** With `--delegation` the agent key must exist already: the delegation names it. */
async function loadDelegatedKey(path: string): Promise<Keypair> {
  try {
    return await loadKeypair(path);
  } catch (err) {
    if (err instanceof KeyFileError && err.code === 'KEYFILE__NOT_FOUND') {
      throw new UsageError(`--delegation: no agent key at ${path}; the delegation names an existing key: pass --key with its file, or run \`doug-agent key --key ${path}\` and authorise the key it prints`);
    }
    throw err;
  }
}

/** Calls `fn` at time `at` (by `now`); returns a cancel. Chains timers past setTimeout's limit. */
function timerAt(at: number, now: () => number, fn: () => void): () => void {
  let timer: NodeJS.Timeout | null = null;
  const arm = () => {
    const left = Math.max(0, at - now());
    const step = Math.min(left, MAX_TIMER_MS);
    timer = setTimeout(step === left ? fn : arm, step);
  };
  arm();
  return () => {
    if (timer) clearTimeout(timer);
  };
}

async function loadOrCreateKey(path: string, log: Logger): Promise<Keypair> {
  const { keypair, created } = await loadOrCreateKeypair(path);
  if (created) log.info(`created agent key ${keypair.publicKey} at ${path} (mode 0600)`);
  return keypair;
}

export async function defaultProbe(): Promise<Probe> {
  const [hardware, runtime] = await Promise.all([detectHardware(), probeRuntime()]);
  return { hardware, runtime: runtime.fingerprint, log: runtime.log };
}

/** What the executor is built from: the runtime, where models come from and go, and its threads. */
export interface ExecutorOptions {
  runtime: RuntimeFingerprint;
  server: string;
  modelDir: string;
  threads: number;
}

/**
 * Threads running models when --threads is not given: one per slot on the CPU, up to its cores (more
 * would only take turns); one with CUDA, where each thread's session would be another copy of the
 * model in the GPU's memory (its slots then take turns in that thread, as before threads).
 */
export function defaultThreads(capacity: number, executionProvider: RuntimeFingerprint['executionProvider']): number {
  return executionProvider === 'cuda' ? 1 : Math.max(1, Math.min(capacity, availableParallelism()));
}

/**
 * ONNX runs over the on-disk model cache, in worker threads (exec/runner-pool.ts: a run
 * holds its thread, so slots run at once and the socket stays answered); models come from the URL
 * each assign names.
 */
export async function defaultExecutor(o: ExecutorOptions): Promise<Executor> {
  const urls = new Map<string, string>();
  const cache = new ModelCache(o.modelDir, async (sha256) => {
    const url = new URL(urls.get(sha256) ?? `/v1/models/${sha256}`, `${o.server}/`);
    const res = await fetch(url);
    if (!res.ok) throw new Error(`GET ${url.pathname} answered ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  });
  const inner = runnerExecutor(new RunnerPool({ executionProvider: o.runtime.executionProvider, cache, threads: o.threads }));
  return {
    ...(inner.queue ? { queue: inner.queue } : {}),
    run(assign, opts) {
      urls.set(assign.model.sha256, assign.model.url);
      return inner.run(assign, opts);
    },
  };
}

function processSignals(handler: (signal: string) => void): () => void {
  const onInt = () => handler('SIGINT');
  const onTerm = () => handler('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return () => {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  };
}

function expandHome(path: string, home: string): string {
  if (path === '~') return home;
  if (path.startsWith('~/')) return join(home, path.slice(2));
  return resolve(path);
}

function fail(io: AgentCliIo, err: unknown): number {
  if (err instanceof UsageError) {
    io.stderr(`error ${err.code}: ${err.message}\nrun \`doug-agent --help\` for usage\n`);
    return 2;
  }
  if (err instanceof DougApiError || err instanceof KeyFileError) {
    io.stderr(`error ${err.code}: ${err.message}\n`);
    return 1;
  }
  io.stderr(`error AGENT__UNEXPECTED: ${describe(err)}\n`);
  if (io.env.DOUG_DEBUG && err instanceof Error && err.stack) io.stderr(err.stack + '\n');
  return 1;
}

function describe(err: unknown): string {
  if (err instanceof DougApiError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

if (isEntryModule(import.meta.url)) {
  const write = (stream: NodeJS.WriteStream) => (text: string) => void stream.write(text);
  main(process.argv.slice(2), { stdout: write(process.stdout), stderr: write(process.stderr), env: process.env }).then((code) => {
    process.exit(code);
  });
}
