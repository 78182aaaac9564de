import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { fingerprintOf } from '../../durable-objects/contracts/agent.ts';
import type { AssignMessage, RuntimeFingerprint } from '../../durable-objects/contracts/agent.ts';
import { AUTH_HEADERS, base64UrlDecode, createDelegation, delegationMessage, encodeDelegation, generateKeypair, verifyText } from '../../durable-objects/contracts/auth.ts';
import type { Delegation, DelegationScope, Keypair } from '../../durable-objects/contracts/auth.ts';
import { tensorsDigest, toWire } from '../../durable-objects/contracts/tensors.ts';
import { encodeKeyFile, loadKeypair, saveKeypair } from '../../sdk/keyfile.ts';
import { askAttributes, defaultThreads, fingerprintAttribute, main } from './cli.ts';
import type { AgentCliIo, Probe } from './cli.ts';
import { startPeer } from '../../test/support/agent-peer.ts';
import type { Peer, PeerHttpRequest } from '../../test/support/agent-peer.ts';

const RUNTIME: RuntimeFingerprint = { onnxruntime: '1.30.0', executionProvider: 'cpu', platform: 'linux', arch: 'x64', cpuFeatures: ['avx2'] };
const PROBE: Probe = { hardware: { cpuModel: 'Test CPU', cores: 8, memoryGb: 32, gpus: [] }, runtime: RUNTIME, log: 'execution provider: cpu (test)' };

let home: string;
let peer: Peer | null = null;

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'doug-agent-'));
});

afterEach(async () => {
  await peer?.close();
  peer = null;
  await rm(home, { recursive: true, force: true });
});

/** A market that accepts asks (numbered ask ids) and their cancellation. */
async function market(o: { refuse?: boolean } = {}): Promise<Peer> {
  let n = 0;
  peer = await startPeer({
    welcome: () => ({ leases: [], heartbeatMs: 60_000 }),
    http: (req: PeerHttpRequest) => {
      if (req.method === 'POST' && req.path === '/v1/asks') {
        if (o.refuse) return { status: 403, body: { error: { code: 'AUTH__FORBIDDEN', message: 'no stake', context: {} } } };
        const body = JSON.parse(req.body) as { market: string };
        n++;
        return { body: { order: { id: `ask_${body.market}_${String(n).padStart(24, '0')}`, kind: 'ask', market: body.market, owner: 'x', status: 'open' } } };
      }
      if (req.method === 'DELETE' && req.path.startsWith('/v1/asks/')) return { body: { order: { id: req.path.slice(9), status: 'cancelled' } } };
      return { status: 404, body: { error: { code: 'API__NOT_FOUND', message: 'no route', context: {} } } };
    },
  });
  return peer;
}

function io(extra: Partial<AgentCliIo> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  let stop: ((signal: string) => void) | null = null;
  const value: AgentCliIo = {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    env: {},
    home,
    probe: async () => PROBE,
    createExecutor: async () => ({
      async run(a: AssignMessage) {
        const outputs = [toWire('y', 'uint8', [1], Uint8Array.of(a.inputs.length))];
        return { outputs, outputDigest: await tensorsDigest(outputs), timings: { loadMs: 0, runMs: 1 } };
      },
    }),
    onStop: (handler) => {
      stop = handler;
      return () => (stop = null);
    },
    ...extra,
  };
  return { io: value, out, err, stop: (signal = 'SIGTERM') => stop?.(signal) };
}

async function until(check: () => boolean, timeoutMs = 3_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function assign(n: number): AssignMessage {
  return { type: 'assign', jobId: `bid_cpu_${n}`, replica: 0, leaseId: `lease-${n}`, expiresAt: Date.now() + 60_000, model: { sha256: 'c'.repeat(64), bytes: 1, url: '/m' }, inputs: [], outputs: [] };
}

describe('doug-agent with a bad command line', () => {
  it('exits 2 and names the problem', async () => {
    const t = io();
    expect(await main(['--market', 'cpu'], t.io)).toBe(2);
    expect(t.err.join('')).toMatch(/--server is required/);
    const t2 = io();
    expect(await main(['--server', 'http://x', '--market', 'cpu', '--price', 'abc', '--capacity', '1'], t2.io)).toBe(2);
    expect(t2.err.join('')).toMatch(/CLI__USAGE: --price/);
    const t3 = io();
    expect(await main(['--server', 'http://x', '--market', 'cpu', '--price', '1', '--capacity', '1', '--attr', 'nokey'], t3.io)).toBe(2);
    const t4 = io();
    expect(await main(['--server', 'http://x', '--market', 'cpu', '--price', '1', '--capacity', '1', '--prefetch', '17'], t4.io)).toBe(2);
    expect(t4.err.join('')).toMatch(/CLI__USAGE: --prefetch: at most 16/);
    const t5 = io();
    expect(await main(['--server', 'http://x', '--market', 'cpu', '--price', '1', '--capacity', '2', '--threads', '3'], t5.io)).toBe(2);
    expect(t5.err.join('')).toMatch(/CLI__USAGE: --threads: at most the capacity \(2\)/);
    const t6 = io();
    expect(await main(['--server', 'http://x', '--market', 'cpu', '--price', '1', '--capacity', '2', '--threads', '0'], t6.io)).toBe(2);
    expect(t6.err.join('')).toMatch(/CLI__USAGE: --threads/);
  });

  it('prints usage on --help', async () => {
    const t = io();
    expect(await main(['--help'], t.io)).toBe(0);
    expect(t.out.join('')).toMatch(/usage: doug-agent/);
  });
});

describe('doug-agent run by a provider', () => {
  it('builds its executor with the threads asked for, or by default one per slot on the CPU and one with CUDA', async () => {
    expect(defaultThreads(2, 'cpu')).toBe(Math.min(2, availableParallelism()));
    expect(defaultThreads(1024, 'cpu')).toBe(availableParallelism());
    expect(defaultThreads(4, 'cuda')).toBe(1);
    for (const [args, want] of [
      [['--threads', '1'], 1],
      [[], defaultThreads(2, 'cpu')],
    ] as const) {
      const m = await market();
      const asked: number[] = [];
      const base = io();
      const t = io({ createExecutor: async (o) => (asked.push(o.threads), base.io.createExecutor!(o)) });
      const code = main(['--server', m.url, '--market', 'cpu', '--price', '1', '--capacity', '2', '--quiet', ...args], t.io);
      await (await m.socket(0)).next('ready');
      t.stop('SIGINT');
      expect(await code).toBe(0);
      expect(asked).toEqual([want]);
      await m.close();
    }
  });

  it('with --prefetch lists the window as more slots of its ask and announces it in ready', async () => {
    const m = await market();
    const t = io();
    const code = main(['--server', m.url, '--market', 'cpu', '--price', '1', '--capacity', '1', '--prefetch', '2', '--quiet'], t.io);
    const s = await m.socket(0);
    const [post] = m.httpRequests.filter((r) => r.method === 'POST');
    expect(JSON.parse(post!.body)).toMatchObject({ capacity: 3 });
    expect(await s.next('ready')).toEqual({ type: 'ready', slots: 1, prefetch: 2 });
    t.stop('SIGINT');
    expect(await s.take((m) => m.type === 'ready' && m.slots === 0)).toEqual({ type: 'ready', slots: 0 });
    expect(await code).toBe(0);
  });

  it('creates its key (0600), lists a signed ask with detected attributes, works, and on a signal drains, withdraws and exits 0', async () => {
    const m = await market();
    const t = io();
    const code = main(['--server', m.url, '--market', 'cpu', '--price', '0.25', '--capacity', '2', '--attr', 'region=eu', '--attr', 'cores=6'], t.io);
    const s = await m.socket(0);
    const keyPath = join(home, '.config/doug/agent.json');
    expect((await stat(keyPath)).mode & 0o777).toBe(0o600);
    const key = await loadKeypair(keyPath);
    const keyText = await readFile(keyPath, 'utf8');
    expect(t.err.join('')).not.toContain(keyText.trim());

    const [post] = m.httpRequests.filter((r) => r.method === 'POST');
    expect(post!.headers[AUTH_HEADERS.key]).toBe(key.publicKey);
    expect(post!.headers[AUTH_HEADERS.delegation]).toBeUndefined();
    const body = JSON.parse(post!.body) as { price: string; capacity: number; attributes: Record<string, unknown>; expiresAt: number };
    expect(body).toMatchObject({ price: '250000000', capacity: 2 });
    expect(body.attributes).toEqual({ accelerator: 'cpu', memoryGb: 32, cores: 6, fingerprint: fingerprintOf(RUNTIME), region: 'eu' });
    expect(body.expiresAt - Date.now()).toBeGreaterThan(3_500_000);

    expect(s.hello).toMatchObject({ agentKey: key.publicKey, askId: 'ask_cpu_000000000000000000000001', runtime: RUNTIME });
    expect(s.hello!.delegation).toBeUndefined();
    expect(await s.next('ready')).toEqual({ type: 'ready', slots: 2 });
    s.send(assign(1));
    expect(await s.next('result')).toMatchObject({ leaseId: 'lease-1' });

    t.stop('SIGINT');
    expect(await s.take((m) => m.type === 'ready' && m.slots === 0)).toEqual({ type: 'ready', slots: 0 });
    expect(await code).toBe(0);
    expect(m.httpRequests.some((r) => r.method === 'DELETE' && r.path === '/v1/asks/ask_cpu_000000000000000000000001')).toBe(true);
    expect(t.err.join('')).toMatch(/job bid_cpu_1 replica 0: ran in 1 ms/);
  });

  it('with --wallet-key, lists under the wallet through a delegation that the hello carries too', async () => {
    const m = await market();
    const wallet = await generateKeypair();
    const walletPath = join(home, 'wallet.json');
    await writeFile(walletPath, encodeKeyFile(wallet), { mode: 0o600 });
    const t = io();
    const code = main(['--server', m.url, '--market', 'cpu', '--price', '1', '--capacity', '1', '--wallet-key', walletPath, '--key', join(home, 'a.json'), '--quiet'], t.io);
    const s = await m.socket(0);
    const post = m.httpRequests.find((r) => r.method === 'POST')!;
    const delegation = JSON.parse(new TextDecoder().decode(base64UrlDecode(post.headers[AUTH_HEADERS.delegation]!))) as Delegation;
    const agentKey = (await loadKeypair(join(home, 'a.json'))).publicKey;
    expect(delegation).toMatchObject({ wallet: wallet.publicKey, delegate: agentKey, scopes: ['asks', 'work'] });
    const { signature, ...unsigned } = delegation;
    expect(await verifyText(wallet.publicKey, signature, delegationMessage(unsigned))).toBe(true);
    expect(s.hello!.delegation).toEqual(delegation);
    t.stop();
    expect(await code).toBe(0);
    expect(t.err.join('')).toBe(''); // --quiet
  });

  it('re-lists its ask before expiry, moves the socket to the new ask and withdraws the old one', async () => {
    const m = await market();
    const t = io();
    const code = main(['--server', m.url, '--market', 'cpu', '--price', '1', '--capacity', '1', '--ttl', '500ms'], t.io);
    const first = await m.socket(0);
    expect(first.hello!.askId).toBe('ask_cpu_000000000000000000000001');
    const second = await m.socket(1);
    expect(second.hello!.askId).toBe('ask_cpu_000000000000000000000002');
    await until(() => m.httpRequests.some((r) => r.method === 'DELETE' && r.path.endsWith('000000000000000000000001')));
    t.stop();
    expect(await code).toBe(0);
  });

  it('exits 1 with the code when the market refuses the ask', async () => {
    const m = await market({ refuse: true });
    const t = io();
    expect(await main(['--server', m.url, '--market', 'cpu', '--price', '1', '--capacity', '1'], t.io)).toBe(1);
    expect(t.err.join('')).toMatch(/error AUTH__FORBIDDEN/);
    expect(m.sockets).toHaveLength(0);
  });

  it('refuses an unknown fault value and warns loudly about a known one', async () => {
    const m = await market();
    const bad = io({ env: { DOUG_AGENT_FAULT: 'slow' } });
    expect(await main(['--server', m.url, '--market', 'cpu', '--price', '1', '--capacity', '1'], bad.io)).toBe(1);
    const t = io({ env: { DOUG_AGENT_FAULT: 'wrong-output' } });
    const code = main(['--server', m.url, '--market', 'cpu', '--price', '1', '--capacity', '1', '--quiet'], t.io);
    await m.socket(0);
    expect(t.err.join('')).toMatch(/WARN FAULT INJECTION ON/);
    t.stop();
    expect(await code).toBe(0);
  });
});

/** A wallet and an agent key on disk, and the wallet's delegation token for that key. */
async function delegated(o: { scopes?: DelegationScope[]; expiresAt?: number; delegate?: string } = {}): Promise<{ wallet: Keypair; agent: Keypair; keyPath: string; delegation: Delegation; token: string }> {
  const wallet = await generateKeypair();
  const agent = await generateKeypair();
  const keyPath = join(home, 'agent.json');
  await saveKeypair(keyPath, agent);
  const delegation = await createDelegation(wallet, { delegate: o.delegate ?? agent.publicKey, scopes: o.scopes ?? ['asks', 'work'], expiresAt: o.expiresAt ?? Date.now() + 7 * 86_400_000 });
  return { wallet, agent, keyPath, delegation, token: encodeDelegation(delegation) };
}

const RUN = (url: string) => ['--server', url, '--market', 'cpu', '--price', '1', '--capacity', '1'];

describe('doug-agent with a --delegation it cannot use', () => {
  /** Runs the agent against a market that must see nothing; returns stderr. */
  async function refused(args: string[]): Promise<string> {
    const m = await market();
    const t = io();
    expect(await main([...RUN(m.url), ...args], t.io)).toBe(2);
    expect(m.httpRequests).toEqual([]);
    expect(m.sockets).toHaveLength(0);
    return t.err.join('');
  }

  it('refuses text that is not a token, and a token without the fields', async () => {
    const { keyPath } = await delegated();
    expect(await refused(['--key', keyPath, '--delegation', 'not a token!'])).toMatch(/CLI__USAGE: --delegation: not a delegation token/);
    const partial = Buffer.from(JSON.stringify({ wallet: 'x', delegate: 'y' })).toString('base64url');
    expect(await refused(['--key', keyPath, '--delegation', partial])).toMatch(/--delegation: the token is incomplete/);
  });

  it('refuses a delegation to another key, and names this agent key', async () => {
    const other = await generateKeypair();
    const { keyPath, agent, token } = await delegated({ delegate: other.publicKey });
    const err = await refused(['--key', keyPath, '--delegation', token]);
    expect(err).toContain(`authorises the agent key ${other.publicKey}, but this agent's key is ${agent.publicKey}`);
  });

  it('refuses a delegation whose wallet signature does not verify', async () => {
    const { keyPath, delegation } = await delegated();
    const forged = encodeDelegation({ ...delegation, expiresAt: delegation.expiresAt + 86_400_000 });
    expect(await refused(['--key', keyPath, '--delegation', forged])).toMatch(/signature of wallet \S+ does not verify/);
  });

  it('refuses a delegation without "work"', async () => {
    const { keyPath, token } = await delegated({ scopes: ['asks', 'orders'] });
    expect(await refused(['--key', keyPath, '--delegation', token])).toMatch(/does not grant "work"; the agent needs "asks" and "work"/);
  });

  it('refuses an expired delegation', async () => {
    const { keyPath, token } = await delegated({ expiresAt: Date.now() - 1000 });
    expect(await refused(['--key', keyPath, '--delegation', token])).toMatch(/--delegation: it expired at /);
  });

  it('refuses --delegation with --wallet-key, and a missing agent key (without creating one)', async () => {
    const { token } = await delegated();
    expect(await refused(['--delegation', token, '--wallet-key', join(home, 'w.json')])).toMatch(/--delegation and --wallet-key cannot be used together/);
    const missing = join(home, 'none', 'agent.json');
    expect(await refused(['--key', missing, '--delegation', token])).toContain(`no agent key at ${missing}`);
    await expect(stat(missing)).rejects.toThrow();
  });
});

describe('doug-agent with a wallet-signed --delegation', () => {
  it('lists an ask for the wallet with that delegation, signed by the agent key, ending no later than the delegation', async () => {
    const m = await market();
    const { wallet, agent, keyPath, delegation, token } = await delegated({ expiresAt: Date.now() + 30 * 60_000 });
    const t = io();
    const code = main([...RUN(m.url), '--key', keyPath, '--delegation', token, '--ttl', '1h'], t.io);
    const s = await m.socket(0);
    const post = m.httpRequests.find((r) => r.method === 'POST')!;
    expect(post.headers[AUTH_HEADERS.key]).toBe(agent.publicKey);
    expect(post.headers[AUTH_HEADERS.delegation]).toBe(token);
    // The ask would last an hour, but the delegation ends in 30 minutes: so does the ask.
    expect((JSON.parse(post.body) as { expiresAt: number }).expiresAt).toBe(delegation.expiresAt);
    expect(s.hello).toMatchObject({ agentKey: agent.publicKey, delegation });
    const log = t.err.join('');
    expect(log).toContain(`acting for wallet ${wallet.publicKey} by its delegation (asks, work) until ${new Date(delegation.expiresAt).toISOString()}`);
    expect(log).not.toMatch(/WARN/);
    t.stop();
    expect(await code).toBe(0);
    expect(m.httpRequests.filter((r) => r.method === 'DELETE').map((r) => r.headers[AUTH_HEADERS.delegation])).toEqual([token]);
  });

  it('reads the delegation from @FILE, as the token or as its JSON', async () => {
    const m = await market();
    const { keyPath, delegation, token } = await delegated();
    for (const [i, text] of [`${token}\n`, JSON.stringify(delegation, null, 2)].entries()) {
      const file = join(home, `delegation-${i}`);
      await writeFile(file, text);
      const t = io();
      const code = main([...RUN(m.url), '--key', keyPath, '--delegation', `@${file}`, '--quiet'], t.io);
      expect((await m.socket(i)).hello!.delegation).toEqual(delegation);
      t.stop();
      expect(await code).toBe(0);
    }
    const t = io();
    expect(await main([...RUN(m.url), '--key', keyPath, '--delegation', `@${join(home, 'nope')}`], t.io)).toBe(2);
    expect(t.err.join('')).toMatch(/--delegation: cannot read .*nope \(ENOENT\)/);
  });

  it('warns when the delegation is about to end, does not re-list past it, and at its end drains and exits 1', async () => {
    const m = await market();
    const { keyPath, delegation, token } = await delegated({ expiresAt: Date.now() + 1_500 });
    const t = io();
    const code = main([...RUN(m.url), '--key', keyPath, '--delegation', token, '--ttl', '1h'], t.io);
    const s = await m.socket(0);
    expect(await s.next('ready')).toEqual({ type: 'ready', slots: 1 });
    expect(t.err.join('')).toMatch(/WARN the wallet's delegation to this agent expires at .* and the agent cannot renew it/);
    expect(await s.take((msg) => msg.type === 'ready' && msg.slots === 0)).toEqual({ type: 'ready', slots: 0 });
    expect(await code).toBe(1);
    expect(Date.now()).toBeGreaterThanOrEqual(delegation.expiresAt);
    expect(t.err.join('')).toMatch(/error AGENT__DELEGATION_EXPIRED: the wallet's delegation ended at .*restart it with the new --delegation/);
    // One ask, ending with the delegation; no re-listing and no withdrawal under an expired delegation.
    expect(m.httpRequests.map((r) => r.method)).toEqual(['POST']);
    expect((JSON.parse(m.httpRequests[0]!.body) as { expiresAt: number }).expiresAt).toBe(delegation.expiresAt);
  });
});

describe('doug-agent key', () => {
  it('creates the agent key if missing and prints only its public key, the same one each time', async () => {
    const keyPath = join(home, 'keys', 'agent.json');
    const first = io();
    expect(await main(['key', '--key', keyPath], first.io)).toBe(0);
    const key = await loadKeypair(keyPath);
    expect(first.out.join('')).toBe(`${key.publicKey}\n`);
    expect((await stat(keyPath)).mode & 0o777).toBe(0o600);
    expect(first.err.join('')).toMatch(/created agent key/);
    const again = io();
    expect(await main(['key', '--key', keyPath], again.io)).toBe(0);
    expect(again.out.join('')).toBe(`${key.publicKey}\n`);
    expect(again.err.join('')).toBe('');
    // The default place, under the home folder.
    const byDefault = io();
    expect(await main(['key'], byDefault.io)).toBe(0);
    expect(byDefault.out.join('')).toBe(`${(await loadKeypair(join(home, '.config/doug/agent.json'))).publicKey}\n`);
    const bad = io();
    expect(await main(['key', '--server', 'http://x'], bad.io)).toBe(2);
  });
});

describe('ask attributes', () => {
  it('describe the GPU when running on CUDA, the machine otherwise', async () => {
    const gpuProbe: Probe = {
      hardware: { cpuModel: 'x', cores: 16, memoryGb: 128, gpus: [{ name: 'NVIDIA H100', memoryGb: 80 }] },
      runtime: { ...RUNTIME, executionProvider: 'cuda' },
      log: '',
    };
    expect(await askAttributes(gpuProbe, {})).toMatchObject({ accelerator: 'NVIDIA H100', memoryGb: 80, cores: 16 });
    expect(await askAttributes({ ...gpuProbe, runtime: RUNTIME }, {})).toMatchObject({ accelerator: 'cpu', memoryGb: 128 });
  });

  it('shorten a long fingerprint to 64 characters, deterministically', async () => {
    const long: RuntimeFingerprint = { ...RUNTIME, cpuFeatures: ['avx', 'avx2', 'avx512f', 'avx512bw', 'avx512dq', 'avx512vl', 'fma', 'f16c', 'sse4_1', 'sse4_2'] };
    const a = await fingerprintAttribute(long);
    expect(a.length).toBeLessThanOrEqual(64);
    expect(a).toMatch(/^ort-1\.30\.0\/cpu\/linux\/x64\/[0-9a-f]{16}$/);
    expect(await fingerprintAttribute({ ...long, cpuFeatures: [...long.cpuFeatures].reverse() })).toBe(a);
    expect(await fingerprintAttribute({ ...long, cpuFeatures: long.cpuFeatures.slice(1) })).not.toBe(a);
    expect(await fingerprintAttribute(RUNTIME)).toBe(fingerprintOf(RUNTIME));
  });
});

describe('doug-agent told to stop after its server is gone', () => {
  it('says the ask is left to the market, without a warning, and exits 1', async () => {
    const m = await market();
    const t = io();
    const code = main(['--server', m.url, '--market', 'cpu', '--price', '1', '--capacity', '1', '--drain-timeout', '1s'], t.io);
    const s = await m.socket(0);
    expect(await s.next('ready')).toEqual({ type: 'ready', slots: 1 });
    await m.close();
    peer = null;
    t.stop('SIGTERM');
    expect(await code).toBe(1);
    const err = t.err.join('');
    expect(err).toMatch(/ask ask_cpu_0+1 not withdrawn, the server is unreachable \(.*\); the market ends it once its agent stays away/);
    expect(err).not.toMatch(/WARN could not withdraw/);
  });
});
