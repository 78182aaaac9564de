import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDoug, parseDoug } from '../../durable-objects/domain/money.ts';
import { DougClient } from '../../sdk/client.ts';
import { loadKeypair } from '../../sdk/keyfile.ts';
import { eventually } from './agents.ts';
import { startStack, type Stack } from './stack.ts';

/**
 * The README's by-hand block (between `<!-- readme-runner:start -->` and `<!-- readme-runner:end -->`),
 * run line by line as a newcomer would, in a fresh home folder, against `npm start`'s stack with its
 * chain and two agents. Each command must exit 0; the placeholders the README names are filled in
 * from what earlier commands printed, as the README tells its reader to do.
 */

/** The README's commands, continuation lines joined, comments and blank lines left out. */
export function readmeCommands(readme: string): string[] {
  const block = /<!-- readme-runner:start -->\s*```sh\n([\s\S]*?)```\s*<!-- readme-runner:end -->/.exec(readme);
  if (!block) throw new Error('README.md has no ```sh block between <!-- readme-runner:start --> and <!-- readme-runner:end -->');
  const commands: string[] = [];
  let pending = '';
  for (const line of block[1]!.split('\n')) {
    if (pending === '' && (line.trim() === '' || line.trim().startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1);
      continue;
    }
    commands.push(pending + line);
    pending = '';
  }
  if (pending !== '') commands.push(pending);
  return commands;
}

/** What the README asks its reader to fill in, and where the value comes from. */
const PLACEHOLDERS = [
  { name: 'MODEL_SHA256', from: /^npm run doug -- upload /, value: /\b[0-9a-f]{64}\b/ },
  { name: 'BID_ID', from: /^npm run doug -- bid /, value: /\bbid_[a-z0-9-]+_[0-9a-f]{24}\b/ },
] as const;

const COMMANDS = readmeCommands(readFileSync('README.md', 'utf8'));
const LINE_TIMEOUT_MS = 120_000;
/** `bid --wait` follows its job for up to 3 minutes. */
const WAIT_TIMEOUT_MS = 240_000;

let stack: Stack;
let home: string;
const filled = new Map<string, string>();
const outputs: { command: string; code: number | null; stdout: string; stderr: string }[] = [];

/** Runs one README line in bash, in the project's folder, as the README's reader would. */
function run(command: string, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: Record<string, string | undefined> = { ...process.env, HOME: home, DOUG_URL: stack.url };
  for (const k of Object.keys(env)) if (k.startsWith('npm_') || k === 'DOUG_KEY' || k === 'INIT_CWD') delete env[k];
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', command], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${timeoutMs} ms)`;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'doug-readme-home-'));
  stack = await startStack({ agents: 2 });
  // "With npm start running": its two agents have listed their asks.
  const reader = new DougClient({ baseUrl: stack.url });
  await eventually(async () => (await reader.asks({ market: 'cpu' })).items.length >= 2, 'the two local agents to list their asks', 90_000, stack.log);
}, 240_000);

afterAll(async () => {
  await stack?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
}, 60_000);

describe("the README's by-hand block", () => {
  it('holds the commands a buyer needs, with the example model and inputs, and names every placeholder it uses', () => {
    expect(COMMANDS.length).toBeGreaterThanOrEqual(8);
    for (const c of COMMANDS) expect(c.replace(/\s+#.*$/, '')).toMatch(/^npm run doug -- [^#'"`$]*$/);
    expect(COMMANDS.some((c) => c.includes('upload examples/model.onnx'))).toBe(true);
    expect(COMMANDS.some((c) => / bid .*--inputs examples\/inputs\.json.*--wait/.test(c))).toBe(true);
    for (const p of PLACEHOLDERS) expect(COMMANDS.some((c) => p.from.test(c)), `a command that prints ${p.name}`).toBe(true);
  });

  for (const [i, command] of COMMANDS.entries()) {
    const bidWait = / bid .*--wait/.test(command);
    it(
      `line ${i + 1} exits 0: ${command.replace(/\s+#.*$/, '')}`,
      async () => {
        if (outputs.length !== i || outputs.some((o) => o.code !== 0)) throw new Error('an earlier line failed');
        // The command without its comment (bash ignores it; a comment may name a placeholder). The
        // first check (above) keeps `#` out of the commands themselves.
        let line = command.replace(/\s+#.*$/, '');
        for (const p of PLACEHOLDERS) {
          if (!line.includes(p.name)) continue;
          const value = filled.get(p.name);
          if (value === undefined) throw new Error(`${p.name} is used before a command printed it`);
          line = line.replaceAll(p.name, value);
        }
        const result = await run(line, bidWait ? WAIT_TIMEOUT_MS : LINE_TIMEOUT_MS);
        outputs.push({ command, ...result });
        expect(result.code, `${line}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}\n--- stack\n${stack.log().slice(-2000)}`).toBe(0);
        for (const p of PLACEHOLDERS) {
          if (!p.from.test(command) || filled.has(p.name)) continue;
          const value = p.value.exec(result.stdout)?.[0];
          expect(value, `${p.name} in the output of ${command}`).toBeDefined();
          filled.set(p.name, value!);
        }
        if (bidWait) {
          expect(result.stderr).toMatch(/: settled: 2 replicas paid/);
          expect(result.stdout).toMatch(/output y: +float32\[1×4\] \[/);
        }
      },
      bidWait ? WAIT_TIMEOUT_MS + 30_000 : LINE_TIMEOUT_MS + 30_000,
    );
  }

  it("leaves the buyer's balance as the README says: 25 DOUG less 0.002 for the job, less the 5 withdrawn", async () => {
    expect(outputs.map((o) => o.code)).toEqual(COMMANDS.map(() => 0));
    const key = await loadKeypair(join(home, '.config', 'doug', 'id.json'));
    const reader = new DougClient({ baseUrl: stack.url });
    const job = await reader.job(filled.get('BID_ID')!);
    expect(job.status).toBe('settled');
    const account = await eventually(async () => {
      const a = await reader.account(key.publicKey);
      return a.held === '0' ? a : null;
    }, 'the escrow to be settled', 30_000);
    expect(formatDoug(BigInt(account.available))).toBe(formatDoug(parseDoug('19.998')!));
  });
});
