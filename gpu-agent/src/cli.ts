#!/usr/bin/env -S node --import tsx
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

import { fingerprintOf } from '../../durable-objects/contracts/agent.ts';
import type { Hardware, RuntimeFingerprint } from '../../durable-objects/contracts/agent.ts';
import { MARKET_ID } from '../../durable-objects/contracts/api.ts';
import type { AttributeValue } from '../../durable-objects/contracts/api.ts';
import { createDelegation, generateKeypair, sha256Hex } from '../../durable-objects/contracts/auth.ts';
import type { Delegation, Keypair } from '../../durable-objects/contracts/auth.ts';
import { formatDoug } from '../../durable-objects/domain/money.ts';
import { DougApiError, DougClient } from '../../sdk/client.ts';
import type { DougClientOptions } from '../../sdk/client.ts';
import { UsageError, attributeValue, dougArg, durationArg, intArg, isEntryModule, takeFlag, type FlagKind } from '../../sdk/format.ts';
import { KeyFileError, loadKeypair, saveKeypair } from '../../sdk/keyfile.ts';
import { Agent, faultFromEnv, lineLogger, runnerExecutor } from './agent.ts';
import type { Executor, Logger } from './agent.ts';
// Static on purpose: tsx fails to parse a file with both a shebang and a dynamic import().
import { detectHardware } from './exec/hardware.ts';
import { ModelCache } from './exec/model-cache.ts';
import { OnnxRunner } from './exec/runner.ts';
import { probeRuntime } from './exec/runtime.ts';

/**
 * `doug-agent`: lists this machine as an ask, connects to the market, works, and on SIGINT or
 * SIGTERM drains, withdraws the ask and exits 0. `main(argv, io)` does everything and returns the
 * exit code (0 ok, 1 failure, 2 usage), so tests run it in-process with their own probes,
 * executor and stop signal.
 */

export const DEFAULT_AGENT_KEY_PATH = '~/.config/doug/agent.json';
export const DEFAULT_MODEL_DIR = '~/.cache/doug/models';
const DEFAULT_TTL_MS = 3_600_000;
const DEFAULT_DRAIN_MS = 60_000;
const MAX_TTL_MS = 30 * 24 * 3_600_000;
/** A wallet's delegation to the agent key lasts this long at least, and is renewed before it lapses. */
const DELEGATION_MS = 24 * 3_600_000;

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
  /** Builds the executor; the ONNX runner over the model cache by default. */
  createExecutor?: (o: { runtime: RuntimeFingerprint; server: string; modelDir: string }) => Promise<Executor>;
  /** Calls the handler on each stop request (SIGINT/SIGTERM by default); returns an unsubscribe. */
  onStop?: (handler: (signal: string) => void) => () => void;
}

interface Options {
  server: string;
  market: string;
  price: bigint;
  capacity: number;
  attributes: Record<string, AttributeValue>;
  keyPath: string;
  walletKeyPath: string | null;
  modelDir: string;
  ttlMs: number;
  drainTimeoutMs: number;
  quiet: boolean;
}

const FLAGS: Record<string, FlagKind> = {
  server: 'string',
  market: 'string',
  price: 'string',
  capacity: 'string',
  attr: 'list',
  key: 'string',
  'wallet-key': 'string',
  'model-dir': 'string',
  ttl: 'string',
  'drain-timeout': 'string',
  quiet: 'boolean',
  help: 'boolean',
};

export const USAGE = `usage: doug-agent --server URL --market M --price DOUG --capacity N [options]

Lists this machine on a DougAI market, takes work over a WebSocket and runs it with onnxruntime.
SIGINT or SIGTERM drains (finishes held work, takes no more), withdraws the ask and exits 0;
a second signal stops at once.

  --server URL          API base URL (env DOUG_URL)
  --market M            market id, e.g. cpu, gpu-24gb
  --price DOUG          price per work unit, e.g. 0.01
  --capacity N          concurrent jobs (slots), 1-1024
  --attr key=value      extra ask attribute (repeatable); detected ones: accelerator, memoryGb, cores, fingerprint
  --key FILE            the agent's hot key (default ${DEFAULT_AGENT_KEY_PATH}; created, mode 0600, if missing)
  --wallet-key FILE     provider wallet: delegates "asks" and "work" to the agent key
                        (without it the agent key is the provider wallet)
  --model-dir DIR       model cache (default ${DEFAULT_MODEL_DIR})
  --ttl DURATION        ask lifetime, re-listed before it ends (default 1h)
  --drain-timeout DUR   how long a drain waits for held work (default 60s)
  --quiet               only warnings and errors on stderr

Test only: DOUG_AGENT_FAULT=wrong-output corrupts every result (to exercise verification).
`;

/** Splits argv into flag values; unknown flags and missing values are usage errors. */
export function parseArgs(argv: string[]): Record<string, string | string[] | boolean> {
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
    const kind = FLAGS[name];
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
  if (capacity > 1024) throw new UsageError('--capacity: at most 1024');
  const ttlMs = str('ttl') === undefined ? DEFAULT_TTL_MS : durationArg('--ttl', str('ttl')!);
  if (ttlMs > MAX_TTL_MS) throw new UsageError('--ttl: at most 30d');
  const drainTimeoutMs = str('drain-timeout') === undefined ? DEFAULT_DRAIN_MS : durationArg('--drain-timeout', str('drain-timeout')!);
  const home = io.home ?? homedir();
  const wallet = str('wallet-key');
  return {
    server: url.toString().replace(/\/+$/, ''),
    market,
    price,
    capacity,
    attributes: attributesArg(Array.isArray(f.attr) ? f.attr : []),
    keyPath: expandHome(str('key') ?? DEFAULT_AGENT_KEY_PATH, home),
    walletKeyPath: wallet === undefined ? null : expandHome(wallet, home),
    modelDir: expandHome(str('model-dir') ?? DEFAULT_MODEL_DIR, home),
    ttlMs,
    drainTimeoutMs,
    quiet: f.quiet === true,
  };
}

/** Parses repeated `--attr key=value`. */
export function attributesArg(items: string[]): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const item of items) {
    const m = /^([A-Za-z][A-Za-z0-9_]{0,31})=(.{1,64})$/.exec(item);
    if (!m) throw new UsageError(`--attr: expected key=value (value 1-64 characters), got ${JSON.stringify(item)}`);
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

/** Runs the agent; returns the exit code (0 ok, 1 failure, 2 usage). */
export async function main(argv: string[], io: AgentCliIo): Promise<number> {
  let o: Options;
  try {
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
  const agentKey = await loadOrCreateKey(o.keyPath, log);
  const wallet = o.walletKeyPath ? await loadKeypair(o.walletKeyPath) : null;
  log.info(`agent key ${agentKey.publicKey}${wallet ? `, acting for wallet ${wallet.publicKey}` : ' (also the provider wallet)'}`);

  const probe = await (io.probe ?? defaultProbe)();
  const hw = probe.hardware;
  log.info(`hardware: ${hw.cpuModel}, ${hw.cores} cores, ${hw.memoryGb} GB${hw.gpus.length ? `, ${hw.gpus.map((g) => `${g.name} (${g.memoryGb} GB)`).join(', ')}` : ', no GPU'}`);
  log.info(probe.log);
  const attributes = await askAttributes(probe, o.attributes);
  const executor = await (io.createExecutor ?? defaultExecutor)({ runtime: probe.runtime, server: o.server, modelDir: o.modelDir });

  const createClient = io.createClient ?? ((c: DougClientOptions) => new DougClient(c));
  let delegation: Delegation | undefined;
  const renewDelegation = async (): Promise<void> => {
    if (!wallet) return;
    if (delegation && delegation.expiresAt > now() + o.ttlMs + 10 * 60_000) return;
    delegation = await createDelegation(wallet, { delegate: agentKey.publicKey, scopes: ['asks', 'work'], expiresAt: now() + Math.max(DELEGATION_MS, 2 * o.ttlMs) });
    log.info(`wallet delegated asks and work to the agent key until ${new Date(delegation.expiresAt).toISOString()}`);
  };
  const client = (): DougClient => createClient({ baseUrl: o.server, keypair: agentKey, delegation });

  const list = async (): Promise<{ id: string; expiresAt: number }> => {
    await renewDelegation();
    const expiresAt = now() + o.ttlMs;
    const res = await client().placeAsk({ market: o.market, price: o.price, capacity: o.capacity, attributes, expiresAt });
    const id = res.order?.id;
    if (typeof id !== 'string') throw new Error('the server answered the ask without an order id');
    log.info(`listed ask ${id} on ${o.market}: ${o.capacity} slot(s) at ${formatDoug(o.price)} DOUG, until ${new Date(expiresAt).toISOString()}`);
    return { id, expiresAt };
  };

  let ask = await list();
  const agent = new Agent({
    capacity: o.capacity,
    executor,
    fault,
    log,
    connection: {
      server: o.server,
      market: o.market,
      keypair: agentKey,
      hello: () => ({ askId: ask.id, hardware: probe.hardware, runtime: probe.runtime, ...(delegation ? { delegation } : {}) }),
    },
  });

  // Keep the ask alive: re-list at 80% of its life, switch the socket to the new ask, withdraw the old.
  let renewTimer: NodeJS.Timeout | null = null;
  let stopping = false;
  const scheduleRenewal = (inMs: number) => {
    renewTimer = setTimeout(() => void renew(), Math.max(0, inMs));
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
    scheduleRenewal(o.ttlMs * 0.8);
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
      log.warn(`could not withdraw ask ${id}: ${describe(err)}`);
      return false;
    }
  };

  const stopRequested = new Promise<string>((resolveStop) => {
    let count = 0;
    const unsubscribe = (io.onStop ?? processSignals)((signal) => {
      count++;
      if (count === 1) resolveStop(signal);
      else {
        log.warn(`${signal} again: stopping now, abandoning held work`);
        unsubscribe();
        void agent.stop();
      }
    });
  });

  agent.start();
  scheduleRenewal(o.ttlMs * 0.8);
  const signal = await stopRequested;
  stopping = true;
  if (renewTimer) clearTimeout(renewTimer);
  log.info(`${signal}: draining (up to ${o.drainTimeoutMs} ms)`);
  const outcome = await agent.drain({ timeoutMs: o.drainTimeoutMs });
  log.info(`drained: ${outcome.finished} answer(s) delivered, ${outcome.abandoned} abandoned`);
  const withdrawn = await withdraw(ask.id);
  log.info('stopped');
  return withdrawn ? 0 : 1;
}

async function loadOrCreateKey(path: string, log: Logger): Promise<Keypair> {
  try {
    return await loadKeypair(path);
  } catch (err) {
    if (!(err instanceof KeyFileError) || err.code !== 'KEYFILE__NOT_FOUND') throw err;
  }
  const keypair = await generateKeypair();
  await saveKeypair(path, keypair);
  log.info(`created agent key ${keypair.publicKey} at ${path} (mode 0600)`);
  return keypair;
}

async function defaultProbe(): Promise<Probe> {
  const [hardware, runtime] = await Promise.all([detectHardware(), probeRuntime()]);
  return { hardware, runtime: runtime.fingerprint, log: runtime.log };
}

/** The ONNX runner over the on-disk model cache; models come from the URL each assign names. */
async function defaultExecutor(o: { runtime: RuntimeFingerprint; server: string; modelDir: string }): Promise<Executor> {
  const urls = new Map<string, string>();
  const cache = new ModelCache(o.modelDir, async (sha256) => {
    const url = new URL(urls.get(sha256) ?? `/v1/models/${sha256}`, `${o.server}/`);
    const res = await fetch(url);
    if (!res.ok) throw new Error(`GET ${url.pathname} answered ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  });
  const inner = runnerExecutor(new OnnxRunner({ executionProvider: o.runtime.executionProvider, cache }));
  return {
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
