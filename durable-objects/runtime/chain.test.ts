import { Keypair } from '@solana/web3.js';
import { describe, expect, it } from 'vitest';
import { encodeBase58 } from '../../programs/client/base58.ts';
import { ChainFailure } from '../../programs/client/errors.ts';
import { depositMemo } from '../domain/custody/deposit.ts';
import { custodyFor } from './chain.ts';
import type { Env } from './env.ts';

const key = (): string => Keypair.generate().publicKey.toBase58();
const authority = Keypair.generate();
const chain = { SOLANA_RPC_URL: 'http://127.0.0.1:9', DOUG_MINT: key(), CUSTODY_TOKEN_ACCOUNT: key(), CUSTODY_AUTHORITY: authority.publicKey.toBase58() };
const envOf = (vars: Record<string, string>): Env => vars as unknown as Env;

/** The code and context of the coded error `f` throws. */
function refusal(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    if (err instanceof ChainFailure) return { code: err.error.code, context: err.error.context };
    throw err;
  }
  return 'no refusal';
}

describe('custody on a deployment without a chain', () => {
  it('is refused with CUSTODY__NOT_CONFIGURED naming what is missing', () => {
    expect(refusal(() => custodyFor(envOf({})))).toEqual({ code: 'CUSTODY__NOT_CONFIGURED', context: { missing: 'SOLANA_RPC_URL, DOUG_MINT, CUSTODY_TOKEN_ACCOUNT, CUSTODY_AUTHORITY' } });
  });
});

describe('custody on a chain without the authority key', () => {
  it('still serves deposits, and refuses a caller that withdraws', () => {
    const custody = custodyFor(envOf(chain));
    expect(custody.depositAddress('acct')).toEqual({ tokenAccount: chain.CUSTODY_TOKEN_ACCOUNT, mint: chain.DOUG_MINT, decimals: 9, memo: depositMemo('acct') });
    expect(custody.holding()).toEqual({ tokenAccount: chain.CUSTODY_TOKEN_ACCOUNT, mint: chain.DOUG_MINT, decimals: 9, authority: chain.CUSTODY_AUTHORITY });
    expect(refusal(() => custodyFor(envOf(chain), { withdrawals: true }))).toEqual({ code: 'CUSTODY__NOT_CONFIGURED', context: { missing: 'CUSTODY_AUTHORITY_KEY' } });
  });

  it('refuses to build a withdrawal', async () => {
    const custody = custodyFor(envOf(chain));
    await expect(custody.buildWithdrawal({ withdrawalId: 'wd_1', destination: key(), amount: 1n })).rejects.toThrow(/CUSTODY__NOT_CONFIGURED/);
  });
});

describe('custody with the key of another authority', () => {
  it('refuses to build a withdrawal, naming both keys', async () => {
    const other = Keypair.generate();
    const custody = custodyFor(envOf({ ...chain, CUSTODY_AUTHORITY_KEY: encodeBase58(other.secretKey) }), { withdrawals: true });
    await expect(custody.buildWithdrawal({ withdrawalId: 'wd_1', destination: key(), amount: 1n })).rejects.toThrow(`is the key of ${other.publicKey.toBase58()}, not of the custody authority`);
  });
});
