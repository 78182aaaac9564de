import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { generateKeypair, type Keypair } from '../../durable-objects/contracts/auth.ts';
import { openApiDocument } from '../../durable-objects/contracts/openapi.ts';
import { BASE } from './helpers.ts';
import { prng } from '../../gpu-agent/models/prng.ts';
import { answerProblem, fuzzInit, fuzzRequests, type OpenApiDocument } from '../support/fuzz.ts';

/**
 * Hostile input generated from the API's own description (GET /v1/openapi.json; the generator is
 * test/support/fuzz.ts, which the chaos suite also sends to the live stack): every operation gets
 * bodies built from its request schema and then broken, garbage path parameters and query values,
 * and a signature over another body. A route added to the document is fuzzed without anyone
 * writing a case. Every answer must be below 500 and, when a refusal, a coded error; nothing may
 * be accepted (every body is broken), and the fuzzing keys own nothing after.
 */
describe('hostile input generated from GET /v1/openapi.json', () => {
  it('every operation answers broken bodies, garbage parameters and wrong signatures below 500 with a coded refusal, and accepts none', async () => {
    const doc = openApiDocument(BASE) as OpenApiDocument;
    const keys: Keypair[] = [];
    let key: Keypair = await generateKeypair();
    let sentWithKey = 0;
    const signer = async () => {
      // A fresh key well within each account's request budget (the budget has its own spec).
      if (++sentWithKey > 200) {
        keys.push(key);
        key = await generateKeypair();
        sentWithKey = 1;
      }
      return key;
    };
    let requests = 0;
    const failures: string[] = [];
    // The socket's own hostile-input specs: agents.test.ts.
    for (const r of fuzzRequests(doc, { rand: prng(20261206), bodies: 40, skip: (template) => template.endsWith('/agent') })) {
      const res = await SELF.fetch(BASE + r.path, await fuzzInit(r, signer));
      requests++;
      const problem = answerProblem(r.what, res.status, await res.text(), r.mayAccept);
      if (problem) failures.push(problem);
    }
    keys.push(key);
    expect(failures, failures.slice(0, 10).join('\n')).toEqual([]);
    expect(requests).toBeGreaterThan(800);
    // Nothing any fuzzing key sent was taken: none owns a balance, a hold or an order.
    for (const k of keys) {
      const account = (await (await SELF.fetch(`${BASE}/v1/accounts/${k.publicKey}`)).json()) as { available?: string; held?: string };
      expect([k.publicKey, account.available ?? '0', account.held ?? '0']).toEqual([k.publicKey, '0', '0']);
      for (const list of ['bids', 'asks']) {
        const page = (await (await SELF.fetch(`${BASE}/v1/${list}?owner=${k.publicKey}`)).json()) as { items: unknown[] };
        expect(page.items, `${list} of ${k.publicKey}`).toEqual([]);
      }
    }
  }, 300_000);
});
