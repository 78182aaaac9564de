import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { generateKeypair, type Keypair } from '../../durable-objects/contracts/auth.ts';
import { DougApiError } from '../../sdk/client.ts';
import { saveKeypair } from '../../sdk/keyfile.ts';
import { stopGroup } from './stack.ts';

/** A real `doug-agent` process, as a provider runs it. */
export interface AgentProcess {
  key: Keypair;
  child: ChildProcess;
  log: () => string;
  /** SIGINT: drain, withdraw the ask, exit. */
  stop: () => Promise<void>;
}

export async function startAgent(o: { url: string; dir: string; name: string; market: string; price: string; capacity?: number; prefetch?: number; fault?: boolean; stageDelayMs?: number; args?: string[]; key?: Keypair }): Promise<AgentProcess> {
  const key = o.key ?? (await generateKeypair());
  const keyPath = join(o.dir, 'agents', `${o.name}.json`);
  if (!o.key) await saveKeypair(keyPath, key); // a given key comes back with its key file
  const args = ['--import', 'tsx', 'gpu-agent/src/cli.ts', '--server', o.url, '--market', o.market, '--price', o.price, '--capacity', String(o.capacity ?? 1), '--key', keyPath];
  args.push('--model-dir', join(o.dir, 'models', o.name), '--drain-timeout', '5s');
  if (o.prefetch) args.push('--prefetch', String(o.prefetch));
  if (o.args) args.push(...o.args);
  const child = spawn(process.execPath, args, {
    env: { ...process.env, DOUG_AGENT_FAULT: o.fault ? 'wrong-output' : '', DOUG_AGENT_STAGE_DELAY_MS: o.stageDelayMs ? String(o.stageDelayMs) : '' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  return { key, child, log: () => output, stop: () => stopGroup(child, 10_000) };
}

/** Polls until `check` gives a value, or fails after `timeoutMs` with `what` and optional logs. */
export async function eventually<T>(check: () => Promise<T | null | undefined | false>, what: string, timeoutMs = 30_000, logs?: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => null);
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${logs ? `\n${logs().slice(-3000)}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The coded error a call fails with (it must fail with one). */
export async function refusal(p: Promise<unknown>): Promise<{ status: number; code: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof DougApiError) return { status: err.status, code: err.code };
    throw err;
  }
  throw new Error('expected a refusal');
}
