import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUTH_HEADERS } from '../durable-objects/contracts/auth.ts';
import { main } from './cli.ts';
import { loadKeypair } from './keyfile.ts';
import { startTestServer, type Answer, type RecordedRequest, type TestServer } from '../test/support/http-server.ts';

/* `doug withdraw` against a recording HTTP server that plays the withdrawal's life. */

const ID = 'wd_0123456789abcdef01234567';
const SIG = '5'.repeat(87);
const OTHER = 'ErigbMVRXgm2zELSZbAtngkcizM7veFP9PqPUpPAoTpE';

let dir: string;
let keyPath: string;
let server: TestServer;
let answer: (req: RecordedRequest) => Answer;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'doug-cli-withdraw-'));
  keyPath = join(dir, 'id.json');
  server = await startTestServer((req) => answer(req));
});
afterEach(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function doug(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), env: { DOUG_URL: server.url, DOUG_KEY: keyPath }, home: dir });
  return { code, stdout, stderr };
}

const view = (over: Record<string, unknown>) => ({
  withdrawal: {
    withdrawalId: ID,
    account: 'x',
    destination: OTHER,
    amount: '1500000000',
    status: 'funded',
    signature: null,
    attempts: [],
    refund: null,
    rejection: null,
    requestedAt: 1,
    ...over,
  },
});

describe('doug withdraw', () => {
  it('sends the amount in base units to your own wallet by default, signed, then waits until paid and prints the signature', async () => {
    expect((await doug('keygen')).code).toBe(0);
    const key = (await loadKeypair(keyPath)).publicKey;
    let gets = 0;
    answer = (req) => {
      if (req.method === 'POST') return { status: 202, body: view({ destination: key }) };
      gets++;
      return { body: gets < 2 ? view({ destination: key }) : view({ destination: key, status: 'paid', signature: SIG, attempts: [{ signature: SIG, status: 'finalized', lastValidBlockHeight: 9, sends: 1 }] }) };
    };
    const r = await doug('withdraw', '1.5');
    expect(r.code).toBe(0);
    const post = server.requests[0]!;
    expect([post.method, post.path]).toEqual(['POST', '/v1/withdrawals']);
    expect(post.headers[AUTH_HEADERS.key]).toBe(key);
    const body = JSON.parse(post.body) as Record<string, string>;
    expect(body).toMatchObject({ amount: '1500000000', destination: key });
    expect(body.clientId).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    expect(server.requests.slice(1).map((q) => `${q.method} ${q.path}`)).toEqual([`GET /v1/withdrawals/${ID}`, `GET /v1/withdrawals/${ID}`]);
    expect(r.stdout).toMatch(/status: +paid/);
    expect(r.stdout).toContain(SIG);
  });

  it('takes --to and --client-id, and with --no-wait answers once accepted', async () => {
    await doug('keygen');
    answer = () => ({ status: 202, body: view({}) });
    const r = await doug('withdraw', '2', '--to', OTHER, '--client-id', 'rent-2026', '--no-wait', '--json');
    expect(r.code).toBe(0);
    expect(server.requests).toHaveLength(1);
    expect(JSON.parse(server.requests[0]!.body)).toEqual({ clientId: 'rent-2026', amount: '2000000000', destination: OTHER });
    expect(JSON.parse(r.stdout)).toMatchObject({ withdrawalId: ID, status: 'funded' });
  });

  it('exits 1 when the withdrawal was refunded, saying so', async () => {
    await doug('keygen');
    answer = (req) => ({ status: req.method === 'POST' ? 202 : 200, body: req.method === 'POST' ? view({}) : view({ status: 'refunded', refund: { reason: 'failed', detail: 'x' } }) });
    const r = await doug('withdraw', '1');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`withdrawal ${ID} was refunded`);
  });

  it('prints the server\u2019s refusal and refuses a --to that is not an address before sending anything', async () => {
    await doug('keygen');
    answer = () => ({ status: 402, body: { error: { code: 'ACCOUNT__INSUFFICIENT_FUNDS', message: 'not enough', context: {} } } });
    const poor = await doug('withdraw', '5');
    expect(poor.code).toBe(1);
    expect(poor.stderr).toBe('error ACCOUNT__INSUFFICIENT_FUNDS: not enough\n');
    const sent = server.requests.length;
    const bad = await doug('withdraw', '1', '--to', 'not-a-wallet!');
    expect(bad.code).toBe(2);
    expect(server.requests).toHaveLength(sent);
  });
});
