import { SELF } from 'cloudflare:test';
import { generateKeypair, signRequest, type Keypair } from '../../durable-objects/contracts/auth.ts';
import { DougApiError, DougClient } from '../../sdk/client.ts';

export const BASE = 'http://doug.test';

/** A client whose requests go into the Worker under test. */
export function clientFor(keypair?: Keypair): DougClient {
  return new DougClient({ baseUrl: BASE, keypair, fetch: (url, init) => SELF.fetch(url, init) });
}

/** A fresh wallet with a client, optionally funded through the local faucet (amount in base units). */
export async function wallet(fund?: bigint): Promise<{ keypair: Keypair; key: string; client: DougClient }> {
  const keypair = await generateKeypair();
  const client = clientFor(keypair);
  if (fund) await client.faucet(fund.toString());
  return { keypair, key: keypair.publicKey, client };
}

/** Polls until `check` returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function until<T>(check: () => Promise<T | undefined | false>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The API error `p` rejects with; fails when it resolves or rejects with anything else. */
export async function refusal(p: Promise<unknown>): Promise<DougApiError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof DougApiError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

/** A raw request, signed by `signer` unless told otherwise, for the bad-input matrix. */
export async function rawRequest(o: {
  method: string;
  path: string;
  body?: string;
  signer?: Keypair;
  headers?: Record<string, string>;
  sign?: { nonce?: string; timestamp?: number; body?: string };
}): Promise<{ status: number; body: { error?: { code: string; message: string; context: Record<string, unknown> } } & Record<string, unknown> }> {
  const body = o.body ?? '';
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(o.headers ?? {}) };
  if (o.signer) Object.assign(headers, await signRequest(o.signer, { method: o.method, path: o.path, body: o.sign?.body ?? body, nonce: o.sign?.nonce, timestamp: o.sign?.timestamp }));
  const res = await SELF.fetch(BASE + o.path, { method: o.method, headers, body: o.method === 'GET' ? undefined : body });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as never) : ({} as never) };
}

export const SPEC = { modelSha256: 'a'.repeat(64), inputSha256: 'b'.repeat(64), inputBytes: 1024, tolerance: null };
export const DOUG = 1_000_000_000n;
