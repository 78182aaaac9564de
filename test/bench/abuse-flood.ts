/**
 * The abuse bench's flooding account, in a process of its own (test/bench/abuse.ts starts it): its
 * signing and sending must not hold back the event loop of the account being measured. Sends the
 * bids, then prints one JSON line: the answers by code, and how long the flood took.
 *
 *   node --import tsx test/bench/abuse-flood.ts '{"url", "keyPath", "flood", "concurrency", "job", "market"}'
 */
import { DougApiError, DougClient } from '../../sdk/client.ts';
import { loadKeypair } from '../../sdk/keyfile.ts';

const o = JSON.parse(process.argv[2] ?? '{}') as { url: string; keyPath: string; flood: number; concurrency: number; market: string; job: { modelSha256: string; inputSha256: string; inputBytes: number; tolerance: null } };
// It does not wait out its budget (the SDK would): it sends regardless, as a hostile client does.
const flooder = new DougClient({ baseUrl: o.url, keypair: await loadKeypair(o.keyPath), rateLimitWaitMs: 0 });
const answers: Record<string, number> = {};
let sent = 0;
const start = performance.now();
const worker = async () => {
  while (sent < o.flood) {
    sent++;
    const code = await flooder.placeBid({ market: o.market, maxPrice: '1000', units: 1, replicas: 1, expiresAt: Date.now() + 3600_000, job: o.job }).then(
      () => 'placed',
      (e: unknown) => (e instanceof DougApiError ? e.code : 'ERROR'),
    );
    answers[code] = (answers[code] ?? 0) + 1;
  }
};
await Promise.all(Array.from({ length: o.concurrency }, worker));
console.log(JSON.stringify({ answers, seconds: (performance.now() - start) / 1000 }));
