import { Keypair } from '@solana/web3.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Chain } from './chain.ts';
import { handleRequest, RPC_METHODS } from './rpc.ts';

const address = Keypair.generate().publicKey.toBase58();

/** Parameters a confused or hostile client might send: real-looking values and junk mixed. */
const param = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom(address, '11111111111111111111111111111111', 'TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA', '', 'base64', 'jsonParsed'),
  fc.constantFrom(0, -1, 1.5, 2 ** 53, Number.MAX_SAFE_INTEGER, 1e300, Number.NaN),
  fc.record({ encoding: fc.constantFrom('base64', 'base58', 'jsonParsed', 'binary', 'base64+zstd', 'nope'), commitment: fc.constantFrom('finalized', 'processed', 'bogus'), dataSlice: fc.jsonValue() }, { requiredKeys: [] }),
);

describe('the JSON-RPC methods', () => {
  it('answer any parameters with a result or a JSON-RPC error, never a throw', () => {
    const chain = new Chain({ slotMs: 0 });
    chain.airdrop(address, 1_000_000_000n);
    fc.assert(
      fc.property(fc.constantFrom(...RPC_METHODS), fc.array(param, { maxLength: 4 }), (method, params) => {
        const response = handleRequest(chain, { jsonrpc: '2.0', id: 1, method, params });
        expect(response).toBeDefined();
        expect('result' in response! || typeof response!.error?.code === 'number').toBe(true);
        expect(() => JSON.stringify(response)).not.toThrow();
      }),
      { numRuns: 2000 },
    );
    // Still answering, and right. (A key of its own: the runs above may have airdropped to `address`, as requestAirdrop with a real amount should.)
    const fresh = Keypair.generate().publicKey.toBase58();
    chain.airdrop(fresh, 1_000_000_000n);
    expect(handleRequest(chain, { jsonrpc: '2.0', id: 2, method: 'getBalance', params: [fresh] })?.result).toMatchObject({ value: 1_000_000_000 });
  });
});
