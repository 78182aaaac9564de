import { describe, expect, it } from 'vitest';
import { ChainFailure, chainFailure, onChain } from './errors.ts';
import { SolanaRpcError, type RpcFailureKind } from './rpc.ts';

const failing = (kind: RpcFailureKind) => () => Promise.reject(new SolanaRpcError({ kind, method: 'getTransaction', message: 'no', code: kind === 'rpc' ? -32602 : null }));

/** The coded error onChain throws for a step failing with `kind`. */
async function codeFor(kind: RpcFailureKind): Promise<unknown> {
  const err = await onChain(failing(kind)).catch((e: unknown) => e);
  return err instanceof ChainFailure ? { code: err.error.code, context: err.error.context } : err;
}

describe('a chain step that fails', () => {
  it('is CUSTODY__CHAIN_UNAVAILABLE when the node did not answer', async () => {
    for (const kind of ['network', 'timeout', 'http'] as const) {
      expect(await codeFor(kind)).toEqual({ code: 'CUSTODY__CHAIN_UNAVAILABLE', context: { method: 'getTransaction', problem: 'getTransaction: no', kind } });
    }
  });

  it('is CUSTODY__CHAIN_REFUSED when the node answered an error or garbage', async () => {
    expect(await codeFor('rpc')).toEqual({ code: 'CUSTODY__CHAIN_REFUSED', context: { method: 'getTransaction', problem: 'getTransaction: no', code: -32602 } });
    expect(await codeFor('malformed')).toMatchObject({ code: 'CUSTODY__CHAIN_REFUSED' });
  });

  it('passes any other error through, and a success as it is', async () => {
    const other = new TypeError('bug');
    await expect(onChain(() => Promise.reject(other))).rejects.toBe(other);
    expect(await onChain(() => Promise.resolve(7))).toBe(7);
  });
});

describe('a chain failure', () => {
  it('carries the registry message with its context filled in', () => {
    const failure = chainFailure('CUSTODY__NOT_CONFIGURED', { missing: 'DOUG_MINT' });
    expect(failure.message).toBe('CUSTODY__NOT_CONFIGURED: this deployment has no Solana custody configured (missing DOUG_MINT): deposits, withdrawals and the on-chain faucet are off');
  });
});
