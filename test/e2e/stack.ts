import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A free loopback port. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Markets for end-to-end tests: short leases so that lapses happen within a test. */
export const FAST_MARKETS = JSON.stringify([
  { id: 'cpu', description: 'General-purpose CPU inference', params: { leaseMs: 4_000, replicaBidTtlMs: 30_000, challengeWindowMs: 5_000 } },
  { id: 'gpu-24gb', description: 'GPUs with at least 24 GB of memory' },
]);

/** The chain `npm start` set up (DOUG_LOCAL_DIR/chain/config.json, written by scripts/chain-setup.ts). */
export interface StackChain {
  rpcUrl: string;
  mint: string;
  decimals: number;
  custodyTokenAccount: string;
  custodyAuthority: string;
}

/** The programs `npm start` deployed and configured on the local chain (config.json's `programs`). */
export interface StackPrograms {
  escrow: string;
  escrowConfig: string;
  staking: string;
  stakingConfig: string;
  treasury: string;
}

export interface Stack {
  url: string;
  dir: string;
  /** The local chain's configuration as the Worker names it (its port changes on restart); null when started with `chain: false`. */
  chain: () => StackChain | null;
  /** The programs on it; null when started with `chain: false`. */
  programs: () => StackPrograms | null;
  log: () => string;
  stop: () => Promise<void>;
  /** Stops the server and starts it again on the same port and state (agents see their sockets drop); `chaosDelivery` turns the delivery fault on or off from then on. */
  restart: (o?: { chaosDelivery?: boolean }) => Promise<void>;
}

/**
 * The local marketplace as `npm start` runs it (wrangler dev, real workerd, local D1/R2/queues, the
 * local chain with $DOUG set up), on a free port with a throw-away state folder and no built-in
 * agents. Each stack's chain takes a free port pair of its own (DOUG_CHAIN_PORT=0: the chain binds
 * port and port + 1 together) and keeps its state in the stack's folder. Every wait is bounded.
 */
export async function startStack(
  o: {
    markets?: string;
    agents?: number;
    chain?: boolean;
    /** Use this running chain instead of starting one (the test owns it: it can advance it). */
    chainUrl?: string;
    /** The Worker's RPC URL when not the chain's (a fault proxy in front of it); clients get the chain's. */
    workerRpcUrl?: string;
    /** The folder that holds the stack's throw-away state folder (default: the system's temporary folder). */
    tmp?: string;
    /** Where buyers' $DOUG is held: each buyer's escrow (the escrow program; default, as npm start) or custody's token account. */
    custody?: 'token-account' | 'escrow';
    /** The chaos suite's delivery fault: every outbox message and projection run delivered twice. */
    chaosDelivery?: boolean;
  } = {},
): Promise<Stack> {
  const port = await freePort();
  const dir = mkdtempSync(join(o.tmp ?? tmpdir(), 'doug-e2e-'));
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  let chaosDelivery = o.chaosDelivery ?? false;
  const launch = async (): Promise<ChildProcess> => {
    const child = spawn(process.execPath, ['scripts/start.mjs'], {
      env: {
        ...process.env,
        PORT: String(port),
        DOUG_STATE: join(dir, 'state'),
        DOUG_LOCAL_DIR: dir,
        DOUG_AGENTS: String(o.agents ?? 0),
        DOUG_MARKET_LIST: o.markets ?? FAST_MARKETS,
        DOUG_CHAIN_PORT: '0',
        DOUG_CHAIN: o.chain === false ? 'off' : 'on',
        ...(o.chainUrl && { DOUG_CHAIN_URL: o.chainUrl }),
        ...(o.workerRpcUrl && { DOUG_WORKER_RPC_URL: o.workerRpcUrl }),
        DOUG_CUSTODY: o.custody ?? 'escrow',
        ...(chaosDelivery && { DOUG_CHAOS_DELIVERY: 'duplicate' }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const deadline = Date.now() + 90_000;
    for (;;) {
      try {
        if ((await fetch(`${url}/v1/health`)).ok) return child;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline || child.exitCode !== null) {
        await stopGroup(child);
        throw new Error(`the local stack did not start:\n${output.slice(-3000)}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  let child: ChildProcess;
  try {
    child = await launch();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  type SetUp = StackChain & { programs: StackPrograms; settlementTable: string; slashProposer: string };
  const chainConfig = (): SetUp | null => {
    const file = join(dir, 'chain', 'config.json');
    return o.chain === false || !existsSync(file) ? null : (JSON.parse(readFileSync(file, 'utf8')) as SetUp);
  };
  return {
    url,
    dir,
    chain: () => {
      const config = chainConfig();
      if (!config) return null;
      const { programs: _programs, settlementTable: _table, slashProposer: _verifier, ...chain } = config;
      return chain;
    },
    programs: () => chainConfig()?.programs ?? null,
    log: () => output,
    stop: () => stopGroup(child).then(() => rmSync(dir, { recursive: true, force: true })),
    restart: async (r = {}) => {
      if (r.chaosDelivery !== undefined) chaosDelivery = r.chaosDelivery;
      await stopGroup(child);
      child = await launch();
    },
  };
}

/**
 * Stops a process group: SIGINT, then SIGKILL after a grace period. The default grace outlasts
 * scripts/start.mjs's own bounded stop (its children run in groups of their own, which a SIGKILL of
 * this group would leave behind).
 */
export async function stopGroup(child: ChildProcess, graceMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    process.kill(-child.pid, 'SIGINT');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }, graceMs);
  await exited;
  clearTimeout(timer);
}
