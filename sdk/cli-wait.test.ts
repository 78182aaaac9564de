import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { toWire, type WireTensor } from '../durable-objects/contracts/tensors.ts';
import { invocation, main } from './cli.ts';
import { startTestServer } from '../test/support/http-server.ts';
import type { Answer, RecordedRequest, TestServer } from '../test/support/http-server.ts';

/** `doug bid --wait`, `doug inputs`, and hints written the way the CLI was run. */

const BID_ID = 'bid_cpu_0123456789abcdef01234567';
const SHA = 'ab'.repeat(32);
const NOW = Date.now();
const UNKNOWN_JOB: Answer = { status: 404, body: { error: { code: 'API__UNKNOWN_JOB', message: `there is no job ${BID_ID}`, context: {} } } };

let dir: string;
let server: TestServer;
let answer: (req: RecordedRequest) => Answer;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'doug-cli-wait-'));
  server = await startTestServer((req) => answer(req));
});
afterEach(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function doug(argv: string[], o: { env?: Record<string, string>; tty?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    env: { DOUG_URL: server.url, DOUG_KEY: join(dir, 'id.json'), ...o.env },
    now: () => NOW,
    home: dir,
    pollMs: 1,
    stderrIsTTY: o.tty === true,
  });
  return { code, stdout, stderr };
}

const replica = (status: string, i: number) => ({ replica: i, role: 'primary', status, provider: `P${i}`, askId: null, price: '1000000', lease: null, digest: null, rematches: 0 });
const jobView = (status: string, statuses: string[], extra: Record<string, unknown> = {}) => ({
  body: { job: { jobId: BID_ID, status, buyer: 'B', units: 1, maxPrice: '5000000', replicaCount: statuses.length, replicas: statuses.map(replica), ...extra } },
});
const OUTPUT: WireTensor = toWire('y', 'float32', [1, 2], new Uint8Array(new Float32Array([0.25, -1.5]).buffer));

/** A server whose job goes through `views` (one per poll, the last repeated) after the bid is placed. */
function market(views: Answer[], o: { bidStatus?: string } = {}): void {
  let polls = 0;
  answer = (req) => {
    if (req.method === 'POST' && req.path === '/v1/bids') return { status: 201, body: { order: { id: BID_ID, kind: 'bid', market: 'cpu', owner: 'B', status: o.bidStatus ?? 'open' }, escrow: '10000000' } };
    if (req.path === `/v1/jobs/${BID_ID}`) return views[Math.min(polls++, views.length - 1)]!;
    if (req.path === `/v1/jobs/${BID_ID}/result`) return { body: { replica: 0, outputDigest: 'cd'.repeat(32), outputs: [OUTPUT] } };
    return { status: 404, body: { error: { code: 'API__NOT_FOUND', message: 'no route', context: {} } } };
  };
}

async function bidWait(extra: string[] = [], o: { tty?: boolean; env?: Record<string, string> } = {}) {
  const inputs = join(dir, 'inputs.json');
  await writeFile(inputs, '{"x": {"dtype": "float32", "dims": [1, 2], "values": [[0.5, -1]]}}');
  expect((await doug(['keygen'])).code).toBe(0);
  return doug(['bid', '--market', 'cpu', '--max-price', '0.005', '--units', '1', '--replicas', '2', '--model-sha256', SHA, '--inputs', inputs, '--wait', ...extra], o);
}

describe('doug bid --wait', () => {
  const journey = [UNKNOWN_JOB, jobView('active', ['assigned', 'assigned']), jobView('active', ['leased', 'leased']), jobView('active', ['submitted', 'leased']), jobView('active', ['submitted', 'submitted']), jobView('settled', ['paid', 'paid'], { payouts: [{ gross: '1000000' }, { gross: '1000000' }] })];

  it('sends plain-form inputs in wire form, prints each phase on its own line off a terminal, then the outputs', async () => {
    market(journey);
    const r = await bidWait();
    expect(r.code).toBe(0);
    const body = JSON.parse(server.requests.find((q) => q.path === '/v1/bids')!.body) as { job: { inputs: WireTensor[] } };
    expect(body.job.inputs).toEqual([toWire('x', 'float32', [1, 2], new Uint8Array(new Float32Array([0.5, -1]).buffer))]);
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      `${BID_ID}: placed: waiting for a match`,
      `${BID_ID}: matched: 2 providers, starting`,
      `${BID_ID}: running: 0 of 2 replicas done`,
      `${BID_ID}: running: 1 of 2 replicas done`,
      `${BID_ID}: verifying: 2 results in, comparing`,
      `${BID_ID}: settled: 2 replicas paid, 0.002 DOUG in all`,
    ]);
    expect(r.stdout).toMatch(new RegExp(`bid: +${BID_ID}`));
    expect(r.stdout).toMatch(/output y: +float32\[1×2\] \[0\.25, -1\.5\]/);
    expect(server.requests.filter((q) => q.path === `/v1/jobs/${BID_ID}/result`)).toHaveLength(1);
  });

  it('updates one line in place on a terminal and ends it with a newline', async () => {
    market(journey);
    const r = await bidWait([], { tty: true });
    expect(r.code).toBe(0);
    expect(r.stderr.split('\n')).toHaveLength(2);
    expect(r.stderr.split('\r\x1b[2K').filter(Boolean)).toHaveLength(6);
    expect(r.stderr.endsWith('settled: 2 replicas paid, 0.002 DOUG in all\n')).toBe(true);
  });

  it('prints one JSON document with the bid, the job and the result under --json', async () => {
    market(journey);
    const r = await bidWait(['--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { bid: { order: { id: string } }; job: { status: string }; result: { outputs: WireTensor[] } };
    expect([doc.bid.order.id, doc.job.status, doc.result.outputs]).toEqual([BID_ID, 'settled', [OUTPUT]]);
  });

  it('exits 1 with the reason when the job fails, and fetches no result', async () => {
    market([jobView('active', ['leased', 'leased']), jobView('failed', ['paid', 'paid'], { failure: { kind: 'shape', message: 'Got invalid dimensions', reason: 'the inputs do not fit the model' } })]);
    const r = await bidWait();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${BID_ID}: failed: the inputs do not fit the model\n`);
    expect(r.stderr).toMatch(/error CLI__JOB_FAILED: job bid_cpu_\w+ failed: the inputs do not fit the model; see `doug job bid_cpu_\w+ --history`/);
    expect(server.requests.some((q) => q.path.endsWith('/result'))).toBe(false);
  });

  it('gives up after --timeout with a clear message, exit 1, the job left running', async () => {
    market([jobView('active', ['leased', 'leased'])]);
    const r = await bidWait(['--timeout', '1s'], { env: { npm_lifecycle_event: 'doug' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error CLI__WAIT_TIMEOUT: job bid_cpu_\w+ is still running after 1s \(--timeout\); it goes on without you: follow it with `npm run doug -- job bid_cpu_\w+`/);
  });

  it('stops at once when the bid ended without a match (an IOC bid that found no asks)', async () => {
    market([UNKNOWN_JOB], { bidStatus: 'cancelled' });
    const r = await bidWait(['--ioc']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error CLI__BID_UNMATCHED: bid bid_cpu_\w+ was cancelled without a match/);
    expect(server.requests.some((q) => q.path.startsWith('/v1/jobs/'))).toBe(false);
  });

  it('refuses --timeout without --wait', async () => {
    const r = await doug(['bid', '--market', 'cpu', '--max-price', '1', '--units', '1', '--model-sha256', SHA, '--input-sha256', SHA, '--input-bytes', '4', '--timeout', '1m']);
    expect(r).toMatchObject({ code: 2, stderr: expect.stringMatching(/^error CLI__USAGE: --timeout goes with --wait/) });
  });
});

describe('doug inputs', () => {
  it('turns the plain form into the wire form the API takes', async () => {
    const file = join(dir, 'plain.json');
    await writeFile(file, '{"x": {"dtype": "float32", "dims": [1, 2], "values": [0.25, -1.5]}}');
    const r = await doug(['inputs', file]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([{ ...OUTPUT, name: 'x' }]);
    expect(server.requests).toHaveLength(0);
  });

  it('uploads them tied to a model and names the bid flags that use them', async () => {
    const file = join(dir, 'plain.json');
    await writeFile(file, '{"x": {"dtype": "int64", "dims": [2], "values": [1, "9007199254740993"]}}');
    expect((await doug(['keygen'])).code).toBe(0);
    answer = () => ({ status: 201, body: { inputSha256: SHA, inputBytes: 16 } });
    const r = await doug(['inputs', file, '--upload', '--model', SHA]);
    expect(r.code).toBe(0);
    const req = server.requests.at(-1)!;
    expect([req.method, req.path]).toEqual(['PUT', `/v1/inputs?model=${SHA}`]);
    const sent = (JSON.parse(req.body) as { tensors: WireTensor[] }).tensors[0]!;
    expect(Buffer.from(sent.data, 'base64url').readBigInt64LE(8)).toBe(9007199254740993n);
    expect(r.stdout).toMatch(new RegExp(`next: +doug bid … --input-sha256 ${SHA} --input-bytes 16`));
  });

  it('says what is wrong with a file that holds no tensors, and sends nothing', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(file, '{"x": {"dtype": "float32", "dims": [1, 16], "values": [1, 2]}}');
    const r = await doug(['inputs', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error CLI__USAGE: inputs .*bad\.json: x: values holds 2 numbers; dims \[1, 16\] need 16/);
    expect((await doug(['inputs', file, '--model', SHA])).stderr).toMatch(/--model goes with --upload/);
    expect(server.requests).toHaveLength(0);
  });
});

describe('hints name the command as it was run', () => {
  it('knows npm run doug, npx and the bin', () => {
    expect(invocation({ npm_lifecycle_event: 'doug', npm_command: 'run' })).toBe('npm run doug --');
    expect(invocation({ npm_lifecycle_event: 'npx', npm_command: 'exec' })).toBe('npx doug');
    expect(invocation({})).toBe('doug');
    expect(invocation({ npm_lifecycle_event: 'test:node', npm_command: 'run' })).toBe('doug');
  });

  it('in usage errors, help, the missing key and the faucet next step', async () => {
    const npm = { npm_lifecycle_event: 'doug', npm_command: 'run' };
    expect((await doug(['market'], { env: npm })).stderr).toBe('error CLI__USAGE: missing argument; usage: npm run doug -- market MARKET [--depth N]\nrun `npm run doug -- market --help` for usage\n');
    expect((await doug(['bid', '--help'], { env: npm })).stdout).toMatch(/^usage: npm run doug -- bid --market M/);
    expect((await doug(['faucet', '1'], { env: npm })).stderr).toMatch(/run `npm run doug -- keygen` or pass --key/);
    expect((await doug(['keygen'], { env: npm })).code).toBe(0);
    answer = () => ({ body: { minted: '100000000000', wallet: 'W', tokenAccount: 'T', signature: 'S' } });
    expect((await doug(['faucet', '100'], { env: npm })).stdout).toMatch(/next: +npm run doug -- deposit 100 /);
    expect((await doug(['faucet', '100'])).stdout).toMatch(/next: +doug deposit 100 /);
  });

  it('reads files from where the user ran npm (INIT_CWD), not the package root', async () => {
    await writeFile(join(dir, 'here.json'), '{"x": {"dtype": "uint8", "dims": [1], "values": [7]}}');
    const r = await doug(['inputs', 'here.json'], { env: { INIT_CWD: dir } });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({ name: 'x', dtype: 'uint8' });
  });
});
