import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { AUTH_HEADERS, canonicalRequest, sha256Hex, verifyText } from '../durable-objects/contracts/auth.ts';
import { attributesArg, main, parseCommandLine, requirementArg } from './cli.ts';
import { UsageError } from './format.ts';
import { loadKeypair } from './keyfile.ts';
import { startTestServer } from '../test/support/http-server.ts';
import type { Answer, RecordedRequest, TestServer } from '../test/support/http-server.ts';

const NOW = 1_700_000_000_000;
const ASK_ID = 'ask_cpu_0123456789abcdef01234567';
const BID_ID = 'bid_cpu_0123456789abcdef01234567';
const SHA = 'ab'.repeat(32);

let dir: string;
let keyPath: string;
let server: TestServer;
let answer: (req: RecordedRequest) => Answer;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'doug-cli-'));
  keyPath = join(dir, 'id.json');
  answer = () => ({ body: { items: [], nextCursor: null } });
  server = await startTestServer((req) => answer(req));
});
afterEach(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

/** Runs the CLI in-process against the test server with a temporary key file. */
async function doug(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    env: { DOUG_URL: server.url, DOUG_KEY: keyPath },
    now: () => NOW,
    home: dir,
  });
  return { code, stdout, stderr };
}

async function withKey(): Promise<string> {
  const r = await doug('keygen');
  expect(r.code).toBe(0);
  return (await loadKeypair(keyPath)).publicKey;
}

const lastBody = () => JSON.parse(server.requests.at(-1)!.body) as Record<string, unknown>;

describe('parsing the command line', () => {
  it('takes global flags anywhere, --flag=value, repeated list flags and -- for positionals', () => {
    expect(parseCommandLine(['--json', 'ask', '--market=cpu', '--attr', 'a=1', '--url', 'http://x', '--attr', 'b=c'])).toEqual({
      command: 'ask',
      positionals: [],
      flags: { json: true, market: 'cpu', attr: ['a=1', 'b=c'], url: 'http://x' },
      help: false,
    });
    expect(parseCommandLine(['job', '--', '--odd-id'])).toMatchObject({ command: 'job', positionals: ['--odd-id'] });
    expect(parseCommandLine(['ask', '-h'])).toMatchObject({ command: 'ask', help: true });
  });

  it.each([
    [['nope'], /unknown command "nope"/],
    [['markets', '--price', '1'], /unknown flag --price for doug markets/],
    [['--price', '1', 'ask'], /unknown flag --price/],
    [['ask', '--market'], /--market needs a value/],
    [['ask', '--market', '--price', '1'], /--market needs a value/],
    [['ask', '--market', 'a', '--market', 'b'], /--market is given twice/],
    [['audit', '--json=yes'], /--json takes no value/],
    [['asks', '-x'], /unknown flag -x/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseCommandLine(argv)).toThrow(UsageError);
    expect(() => parseCommandLine(argv)).toThrow(message);
  });

  it('reads attributes and requirements', () => {
    expect(attributesArg(['vram=24', 'gpu=a100'])).toEqual({ vram: 24, gpu: 'a100' });
    expect(() => attributesArg(['vram'])).toThrow(UsageError);
    expect(() => attributesArg(['a=1', 'a=2'])).toThrow(/given twice/);
    expect(requirementArg('vram>=16')).toEqual({ key: 'vram', op: 'gte', value: 16 });
    expect(requirementArg('vram<=80')).toEqual({ key: 'vram', op: 'lte', value: 80 });
    expect(requirementArg('region!=eu')).toEqual({ key: 'region', op: 'neq', value: 'eu' });
    expect(requirementArg('gpu=a100')).toEqual({ key: 'gpu', op: 'eq', value: 'a100' });
    expect(requirementArg('gpu=a100|h100')).toEqual({ key: 'gpu', op: 'in', value: ['a100', 'h100'] });
    expect(() => requirementArg('vram>16')).toThrow(UsageError);
  });
});

describe('usage errors', () => {
  it('exit 2 with `error CLI__USAGE: ...` on stderr and send nothing', async () => {
    const r = await doug('ask', '--market', 'cpu', '--capacity', '1');
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/^error CLI__USAGE: --price is required\n/);
    expect(server.requests).toHaveLength(0);
  });

  it.each([['0.0000000001'], ['-1'], ['1e3'], ['abc'], ['.5']])('refuse the price %j', async (price) => {
    await withKey();
    const r = await doug('ask', '--market', 'cpu', '--price', price, '--capacity', '1');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error CLI__USAGE: --price: .* is not a DOUG amount/);
    expect(server.requests).toHaveLength(0);
  });

  it('name a bad order id, a missing argument and an extra one', async () => {
    expect((await doug('cancel', 'order-1')).stderr).toMatch(/not an order id/);
    expect((await doug('market')).stderr).toMatch(/missing argument; usage: doug market MARKET/);
    expect((await doug('audit', 'x')).stderr).toMatch(/unexpected argument "x"/);
    expect((await doug()).code).toBe(2);
  });
});

describe('help', () => {
  it('lists every command and shows one command with its flags', async () => {
    const all = await doug('help');
    expect(all.code).toBe(0);
    for (const c of ['keygen', 'markets', 'market', 'trades', 'asks', 'bids', 'jobs', 'ask', 'bid', 'cancel', 'job', 'balance', 'ledger', 'faucet', 'audit']) expect(all.stdout).toContain(`  ${c} `);
    const one = await doug('bid', '--help');
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/^usage: doug bid --market M --max-price DOUG/);
    expect(one.stdout).toContain('--tolerance');
    expect((await doug('help', 'ask')).stdout).toMatch(/^usage: doug ask /);
  });
});

describe('DOUG amounts at the boundary', () => {
  it('turn 0.000000001 DOUG into the price "1" on the wire', async () => {
    await withKey();
    answer = () => ({ body: { order: { id: ASK_ID, kind: 'ask', market: 'cpu', owner: 'k', status: 'open' } } });
    const r = await doug('ask', '--market', 'cpu', '--price', '0.000000001', '--capacity', '2', '--attr', 'vram=24', '--ttl', '90s');
    expect(r.code).toBe(0);
    expect(lastBody()).toMatchObject({ market: 'cpu', price: '1', capacity: 2, attributes: { vram: 24 }, expiresAt: NOW + 90_000 });
    expect(r.stdout).toContain(ASK_ID);
    expect(r.stdout).toContain('0.000000001 DOUG per unit');
  });

  it('turn a 1.5 DOUG bid into maxPrice "1500000000" with the job and defaults', async () => {
    await withKey();
    answer = () => ({ body: { order: { id: BID_ID, kind: 'bid', market: 'cpu', owner: 'k', status: 'open' }, escrow: '3000000000', jobId: 'job_1' } });
    const r = await doug(
      'bid', '--market', 'cpu', '--max-price', '1.5', '--units', '2', '--require', 'vram>=16',
      '--model-sha256', SHA, '--input-sha256', SHA, '--input-bytes', '100', '--ioc',
    );
    expect(r.code).toBe(0);
    const body = lastBody();
    expect(body).toMatchObject({
      market: 'cpu',
      maxPrice: '1500000000',
      units: 2,
      replicas: 1,
      requirements: [{ key: 'vram', op: 'gte', value: 16 }],
      expiresAt: NOW + 600_000,
      ioc: true,
      job: { modelSha256: SHA, inputSha256: SHA, inputBytes: 100, tolerance: null },
    });
    expect(body.clientId).toEqual(expect.any(String));
    expect(r.stdout).toMatch(/escrow: +3 DOUG/);
    expect(r.stdout).toMatch(/job: +job_1/);
  });

  it('send inline inputs from a file with --inputs instead of a digest', async () => {
    await withKey();
    const inputs = [{ name: 'x', dtype: 'float32', dims: [1], data: 'AACAPw' }];
    const file = join(dir, 'inputs.json');
    await writeFile(file, JSON.stringify(inputs));
    answer = () => ({ body: { order: { id: BID_ID, kind: 'bid', market: 'cpu', owner: 'k', status: 'open' }, escrow: '1' } });
    const r = await doug('bid', '--market', 'cpu', '--max-price', '0.000000001', '--units', '1', '--model-sha256', SHA, '--inputs', file);
    expect(r.code).toBe(0);
    expect(lastBody().job).toEqual({ modelSha256: SHA, inputs, tolerance: null });
  });

  it('upload a model file, signed over the bytes, and print its SHA-256', async () => {
    const key = await withKey();
    const file = join(dir, 'm.onnx');
    await writeFile(file, Buffer.from([8, 7, 6]));
    answer = () => ({ status: 201, body: { sha256: SHA, bytes: 3 } });
    const r = await doug('upload', file);
    expect(r.code).toBe(0);
    const req = server.requests.at(-1)!;
    expect([req.method, req.path]).toEqual(['PUT', '/v1/models']);
    const text = canonicalRequest({ method: 'PUT', path: '/v1/models', timestamp: req.headers[AUTH_HEADERS.timestamp]!, nonce: req.headers[AUTH_HEADERS.nonce]!, bodySha256: await sha256Hex(new Uint8Array([8, 7, 6])) });
    expect(await verifyText(key, req.headers[AUTH_HEADERS.signature]!, text)).toBe(true);
    expect(r.stdout).toMatch(new RegExp(`sha256: +${SHA}`));
  });

  it('turn `faucet 2.5` into amount "2500000000", signed by the key file', async () => {
    const key = await withKey();
    answer = () => ({ body: { credited: '2500000000', available: '2500000000' } });
    const r = await doug('faucet', '2.5');
    expect(r.code).toBe(0);
    const req = server.requests.at(-1)!;
    expect(JSON.parse(req.body)).toEqual({ amount: '2500000000' });
    expect(req.headers[AUTH_HEADERS.key]).toBe(key);
    const text = canonicalRequest({
      method: 'POST',
      path: req.path,
      timestamp: req.headers[AUTH_HEADERS.timestamp]!,
      nonce: req.headers[AUTH_HEADERS.nonce]!,
      bodySha256: await sha256Hex(req.body),
    });
    expect(await verifyText(key, req.headers[AUTH_HEADERS.signature]!, text)).toBe(true);
    expect(r.stdout).toMatch(/available: +2.5 DOUG/);
  });

  it('filter asks by --max-price in base units', async () => {
    await doug('asks', '--market', 'cpu', '--max-price', '0.25', '--limit', '5', '--status', 'all', '--sort', 'newest', '--min-memory-gb', '24');
    expect(server.requests.at(-1)!.path).toBe('/v1/asks?market=cpu&maxPrice=250000000&status=all&minMemoryGb=24&sort=newest&limit=5');
    expect((await doug('bids', '--status', 'gone')).stderr).toMatch(/^error CLI__USAGE: --status: expected one of open, matched/);
  });
});

describe('--json', () => {
  it('prints exactly the one JSON document the API returned', async () => {
    const page = {
      items: [{ market: 'cpu', description: 'CPU', bestBid: null, bestAsk: '250000000', lastPrice: null, volume24h: '0', trades24h: 0, openAsks: 1, openBids: 0, providers: 1 }],
      nextCursor: 'n1',
    };
    answer = () => ({ body: page });
    const r = await doug('markets', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(page);
  });

  it('prints {job, history} for job --history', async () => {
    answer = (req) => (req.path.includes('/history') ? { body: { items: [{ seq: 1, type: 'JobCreated', at: NOW, data: {} }], nextCursor: null } } : { body: { job: { jobId: BID_ID, status: 'matched' } } });
    expect(JSON.parse((await doug('job', BID_ID, '--json')).stdout)).toEqual({ jobId: BID_ID, status: 'matched' });
    server.requests.length = 0;
    const r = await doug('--json', 'job', BID_ID, '--history', '--limit', '1');
    const doc = JSON.parse(r.stdout);
    expect(Object.keys(doc)).toEqual(['job', 'history']);
    expect(doc.job.jobId).toBe(BID_ID);
    expect(doc.history.items[0].type).toBe('JobCreated');
    expect(server.requests.map((q) => q.path)).toEqual([`/v1/jobs/${BID_ID}`, `/v1/jobs/${BID_ID}/history?limit=1`]);
  });

  it('prints the public key and path for keygen, never the secret', async () => {
    const r = await doug('keygen', '--json');
    const kp = await loadKeypair(keyPath);
    expect(JSON.parse(r.stdout)).toEqual({ publicKey: kp.publicKey, path: keyPath });
    const secret = JSON.parse(await readFile(keyPath, 'utf8')) as number[];
    expect(r.stdout).not.toContain(secret.slice(0, 8).join(','));
  });
});

describe('human output', () => {
  it('shows markets as an aligned table with DOUG prices and a cursor hint', async () => {
    answer = () => ({
      body: {
        items: [
          { market: 'cpu', description: 'CPU', bestBid: '1', bestAsk: '250000000', lastPrice: null, volume24h: '1500000000', trades24h: 3, openAsks: 1, openBids: 1, providers: 1 },
          { market: 'gpu-24gb', description: '24 GB GPU', bestBid: null, bestAsk: null, lastPrice: null, volume24h: '0', trades24h: 0, openAsks: 0, openBids: 0, providers: 0 },
        ],
        nextCursor: 'n1',
      },
    });
    const { stdout } = await doug('markets');
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^MARKET +BEST BID +BEST ASK +LAST +VOLUME 24H/);
    expect(lines[1]).toMatch(/^cpu +0\.000000001 +0\.25 +- +1\.5 +3 /);
    expect(lines[2]).toMatch(/^gpu-24gb +- +- +- +0 +0 /);
    expect(lines[1]!.indexOf('0.25') + 4).toBe(lines[0]!.indexOf('BEST ASK') + 8);
    expect(lines.at(-1)).toBe('more: --cursor n1');
  });

  it('shows your own balance and holds when no key is given', async () => {
    const key = await withKey();
    const hold = { holdId: 'h1', amount: '3000000000', remaining: '1000000000', status: 'open' };
    answer = (req) =>
      req.path.endsWith('/holds')
        ? { body: { items: [hold], nextCursor: null } }
        : { body: { account: key, available: '1500000000', held: '1000000000', credited: '2500000000', withdrawn: '0', payoutsSent: '0', payoutsReceived: '0' } };
    const r = await doug('balance');
    expect(server.requests.map((q) => q.path).sort()).toEqual([`/v1/accounts/${key}`, `/v1/accounts/${key}/holds`]);
    expect(r.stdout).toMatch(/available: +1.5 DOUG/);
    expect(r.stdout).toMatch(/\nh1 +3 +1 +open\n/);
    const json = await doug('balance', key, '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ account: key, available: '1500000000', holds: [hold] });
  });

  it('shows a job with its replicas', async () => {
    answer = () => ({
      body: {
        job: {
          jobId: BID_ID, status: 'dispatched', buyer: 'B', units: 2, maxPrice: '1500000000', replicaCount: 1, escrowAt: NOW,
          replicas: [{ replica: 0, role: 'primary', status: 'leased', provider: 'P', askId: ASK_ID, price: '250000000', lease: null, digest: null, rematches: 0 }],
          timeline: [{ at: NOW }],
        },
      },
    });
    const { stdout } = await doug('job', BID_ID);
    expect(stdout).toMatch(/maxPrice: +1.5 DOUG/);
    expect(stdout).toMatch(/REPLICA +ROLE +STATUS +PROVIDER +PRICE/);
    expect(stdout).toMatch(/\n +0 +primary +leased +P +0.25 /);
    expect(stdout).not.toContain('timeline');
  });

  it("shows a failed job's reason in words", async () => {
    answer = () => ({
      body: {
        job: {
          jobId: BID_ID, status: 'failed', buyer: 'B', units: 2, maxPrice: '1500000000', replicaCount: 1, replicas: [], timeline: [{ at: NOW }],
          failure: { kind: 'runtime', message: 'indices element out of data bounds', reason: 'the model failed while running on these inputs: indices element out of data bounds' },
        },
      },
    });
    const { stdout } = await doug('job', BID_ID);
    expect(stdout).toMatch(/failure: +the model failed while running on these inputs: indices element out of data bounds\n/);
    expect(stdout).not.toContain('[object');
  });

  it('routes cancel by the id prefix', async () => {
    await withKey();
    answer = (req) => ({ body: { order: { id: req.path.split('/').at(-1), kind: 'bid', market: 'cpu', owner: 'k', status: 'cancelled' } } });
    expect((await doug('cancel', BID_ID)).code).toBe(0);
    expect((await doug('cancel', ASK_ID)).code).toBe(0);
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`DELETE /v1/bids/${BID_ID}`, `DELETE /v1/asks/${ASK_ID}`]);
  });

  it('fails audit with exit 1 when conservation is violated', async () => {
    answer = () => ({ body: { ok: false, accounts: 2, available: '0', held: '0', credited: '0', withdrawn: '0', inFlight: '0', feePool: '0', violations: ['k1'] } });
    const r = await doug('audit');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/violations: +k1/);
    expect(r.stderr).toMatch(/^error CLI__AUDIT_FAILED/);
  });
});

describe('API and key errors', () => {
  it('print `error CODE: message` and exit 1, without a stack trace', async () => {
    answer = () => ({ status: 404, body: { error: { code: 'API__UNKNOWN_MARKET', message: 'there is no market named zzz', context: { market: 'zzz' } } } });
    const r = await doug('market', 'zzz');
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'error API__UNKNOWN_MARKET: there is no market named zzz\n' });
  });

  it('say how to make a key when a signed command has none', async () => {
    const r = await doug('faucet', '1');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error KEYFILE__NOT_FOUND: no key file at .*id\.json; run `doug keygen`/);
    expect(server.requests).toHaveLength(0);
  });

  it('refuse to overwrite a key without --force', async () => {
    const first = await withKey();
    const r = await doug('keygen');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error KEYFILE__EXISTS: /);
    expect((await loadKeypair(keyPath)).publicKey).toBe(first);
    expect((await doug('keygen', '--force')).code).toBe(0);
    expect((await loadKeypair(keyPath)).publicKey).not.toBe(first);
  });
});

describe('the installed entry point', () => {
  it('runs as `node --import tsx sdk/cli.ts` and sets the exit code', async () => {
    const run = promisify(execFile);
    const ok = await run(process.execPath, ['--import', 'tsx', 'sdk/cli.ts', 'help']);
    expect(ok.stdout).toMatch(/^doug: /);
    const bad = await run(process.execPath, ['--import', 'tsx', 'sdk/cli.ts', 'faucet', 'lots'], { env: { ...process.env, DOUG_KEY: keyPath } }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad).toMatchObject({ code: 2 });
    expect((bad as { stderr: string }).stderr).toMatch(/^error CLI__USAGE: AMOUNT_DOUG: "lots" is not a DOUG amount/);
  });
});
