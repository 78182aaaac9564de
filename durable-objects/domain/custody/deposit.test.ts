import { describe, expect, it } from 'vitest';
import type { DomainError } from '../result.ts';
import { depositMemo, depositRef, verifyDeposit, type DepositConfig, type RpcParsedInstruction, type RpcTransaction } from './deposit.ts';
import legacyFixture from './fixtures/deposit-json-legacy.json';
import failedFixture from './fixtures/deposit-failed.json';
import goodFixture from './fixtures/deposit-jsonparsed-v0.json';

/*
 * The fixtures are getTransaction answers written by hand in the shape mainnet RPC returns: a
 * TransferChecked with a Memo v3 memo (v0, jsonParsed), the same transfer failed on insufficient
 * funds, and a legacy Transfer with a Memo v1 memo as the json encoding gives it (string account
 * keys, compiled instructions with base58 data). The local chain must answer in the same shape.
 */

const WALLET = 'GfsJWjmGXMfct8JMR9Lm9ySUnniZbnGUTQDbT8ipWf9U';
const CUSTODY = '3GNzzhPG1NUj2wAUi3tVFSshcwLSdGnaaUk1Q2wd7kKs';
const MINT = 'FqUwnBMN1shpeqKVm7W5fN73tvrjVr19TQFFgkoFFzhq';
const USDC = 'BzMc3iEmSK5LBSSkhCdzm39u631fa9Rm5BWTjxMbxj7j';
const CUSTODY_USDC = '9kyEGPhKNELhAcBFo84yKWPHVoHnCCCVGvFqA4cJWykB';
const FRIEND_TOKEN = 'B1hYiGk83H5TbRq1fg7DoA82aHiWg1GUSdW4BU5EKVC3';
const MEMO = 'MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr';
const config: DepositConfig = { mint: MINT, custodyTokenAccount: CUSTODY, decimals: 9 };

const good = (): RpcTransaction => structuredClone(goodFixture) as unknown as RpcTransaction;
const sigOf = (tx: RpcTransaction) => tx.transaction.signatures[0]!;
const verify = (tx: RpcTransaction | null, signature = tx ? sigOf(tx) : 'x') => verifyDeposit({ signature, transaction: tx, config });
const refusal = (tx: RpcTransaction): DomainError => {
  const r = verify(tx);
  if (r.ok) throw new Error(`expected a refusal, got a deposit of ${r.value.amount}`);
  return r.error;
};
const memoIx = (text: string): RpcParsedInstruction => ({ parsed: text, program: 'spl-memo', programId: MEMO, stackHeight: null });
/** Replaces the account key at an index (jsonParsed objects). */
const setKey = (tx: RpcTransaction, index: number, pubkey: string) => {
  const k = tx.transaction.message.accountKeys[index]!;
  tx.transaction.message.accountKeys[index] = typeof k === 'string' ? pubkey : { ...k, pubkey };
};
const withoutMemos = (tx: RpcTransaction) => {
  tx.transaction.message.instructions = tx.transaction.message.instructions.filter((ix) => !('program' in ix && ix.program === 'spl-memo'));
  return tx;
};

describe('a deposit transaction as mainnet RPC returns it', () => {
  it('credits the memo account with the custody account increase (v0, jsonParsed, Memo v3)', () => {
    const tx = good();
    expect(verify(tx)).toEqual({
      ok: true,
      value: { signature: sigOf(tx), account: WALLET, amount: 2_500_000_000n, slot: 380_123_456, blockTime: 1_767_225_600 },
    });
  });

  it('reads the legacy json encoding: string account keys, compiled instructions, a Memo v1 memo in base58 data', () => {
    const tx = structuredClone(legacyFixture) as unknown as RpcTransaction;
    const r = verify(tx);
    expect(r.ok && r.value).toMatchObject({ account: WALLET, amount: 7_000_000_000n, slot: 380_123_790 });
  });

  it('finds the custody account among the lookup-table keys of a v0 transaction in json encoding', () => {
    const tx = structuredClone(legacyFixture) as unknown as RpcTransaction;
    // Custody moves from the static keys (index 2) to the loaded writable keys (index 6).
    tx.transaction.message.accountKeys[2] = FRIEND_TOKEN;
    tx.meta!.loadedAddresses = { writable: [CUSTODY], readonly: [] };
    for (const list of [tx.meta!.preTokenBalances!, tx.meta!.postTokenBalances!]) list[1]!.accountIndex = 6;
    const r = verify(tx);
    expect(r.ok && r.value.amount).toBe(7_000_000_000n);
  });

  it('names the credit reference after the signature', () => {
    expect(depositRef('5abc')).toBe('deposit:5abc');
    expect(depositMemo(WALLET)).toBe(`doug:deposit:${WALLET}`);
  });

  it('counts the exact base units, beyond the precision of a number', () => {
    const tx = good();
    tx.meta!.postTokenBalances![1]!.uiTokenAmount.amount = '18446744073709551615';
    const r = verify(tx);
    expect(r.ok && r.value.amount).toBe(18_446_744_073_709_551_615n - 40_000_000_000n);
  });

  it('takes a missing pre balance of the custody account as zero (the account was created in the transaction)', () => {
    const tx = good();
    tx.meta!.preTokenBalances!.splice(1, 1);
    const r = verify(tx);
    expect(r.ok && r.value.amount).toBe(42_500_000_000n);
  });
});

describe('a transaction that is not a good deposit', () => {
  it('is unknown when RPC has no such transaction (or not at finalized yet)', () => {
    const r = verify(null, 'sig');
    expect(!r.ok && r.error).toMatchObject({ code: 'CUSTODY__DEPOSIT_UNKNOWN', context: { signature: 'sig' } });
  });

  it('is refused when it failed on chain, with the chain error', () => {
    const error = refusal(structuredClone(failedFixture) as unknown as RpcTransaction);
    expect(error.code).toBe('CUSTODY__DEPOSIT_FAILED');
    expect(error.message).toContain('{"InstructionError":[2,{"Custom":1}]}');
  });

  it('is refused when it sends $DOUG to another account', () => {
    const tx = good();
    setKey(tx, 2, FRIEND_TOKEN);
    expect(refusal(tx)).toMatchObject({ code: 'CUSTODY__DEPOSIT_WRONG_DESTINATION', context: { custodyTokenAccount: CUSTODY, mint: MINT } });
  });

  it('is refused when custody is in it but receives nothing', () => {
    const tx = good();
    tx.meta!.postTokenBalances![1]!.uiTokenAmount.amount = '40000000000';
    expect(refusal(tx).code).toBe('CUSTODY__DEPOSIT_WRONG_DESTINATION');
  });

  it('is refused when custody pays out rather than receives', () => {
    const tx = good();
    tx.meta!.postTokenBalances![1]!.uiTokenAmount.amount = '39000000000';
    expect(refusal(tx).code).toBe('CUSTODY__DEPOSIT_WRONG_DESTINATION');
  });

  it('is a wrong mint when another token is sent to custody’s account for that token', () => {
    const tx = good();
    setKey(tx, 2, CUSTODY_USDC);
    setKey(tx, 4, USDC);
    for (const b of [...tx.meta!.preTokenBalances!, ...tx.meta!.postTokenBalances!]) {
      b.mint = USDC;
      b.uiTokenAmount.decimals = 6;
    }
    expect(refusal(tx)).toMatchObject({ code: 'CUSTODY__DEPOSIT_WRONG_MINT', context: { mint: USDC, decimals: 6, expectedMint: MINT } });
  });

  it('is a wrong mint when the configured custody account holds another mint', () => {
    const tx = good();
    tx.meta!.preTokenBalances![1]!.mint = USDC;
    tx.meta!.postTokenBalances![1]!.mint = USDC;
    expect(refusal(tx)).toMatchObject({ code: 'CUSTODY__DEPOSIT_WRONG_MINT', context: { mint: USDC } });
  });

  it('is a wrong mint when the balance is not in 9 decimals', () => {
    const tx = good();
    tx.meta!.postTokenBalances![1]!.uiTokenAmount.decimals = 6;
    tx.meta!.preTokenBalances![1]!.uiTokenAmount.decimals = 6;
    expect(refusal(tx)).toMatchObject({ code: 'CUSTODY__DEPOSIT_WRONG_MINT', context: { decimals: 6, expectedDecimals: 9 } });
  });

  it('is a wrong destination, not a wrong mint, when $DOUG moved elsewhere along with another token', () => {
    const tx = good();
    setKey(tx, 2, FRIEND_TOKEN);
    tx.meta!.postTokenBalances!.push({ accountIndex: 4, mint: USDC, owner: WALLET, uiTokenAmount: { amount: '5', decimals: 6 } });
    expect(refusal(tx).code).toBe('CUSTODY__DEPOSIT_WRONG_DESTINATION');
  });

  it('is refused without a memo', () => {
    expect(refusal(withoutMemos(good())).code).toBe('CUSTODY__DEPOSIT_NO_MEMO');
  });

  it('is refused when its only memo is another app’s', () => {
    const tx = withoutMemos(good());
    tx.transaction.message.instructions.push(memoIx('Sent from a wallet'));
    expect(refusal(tx).code).toBe('CUSTODY__DEPOSIT_NO_MEMO');
  });

  it('ignores other apps’ memos beside the deposit memo', () => {
    const tx = good();
    tx.transaction.message.instructions.unshift(memoIx('Sent from a wallet'));
    expect(verify(tx).ok).toBe(true);
  });

  it('is refused with two deposit memos, even naming the same account', () => {
    const tx = good();
    tx.transaction.message.instructions.push(memoIx(depositMemo(WALLET)));
    expect(refusal(tx)).toMatchObject({ code: 'CUSTODY__DEPOSIT_BAD_MEMO', context: { memos: [depositMemo(WALLET), depositMemo(WALLET)] } });
  });

  it('is refused when the memo names something that is not a public key', () => {
    for (const name of ['nobody', `${WALLET}\n`, `${WALLET.slice(0, -1)}0`, '11111111111111111111111111111111111']) {
      const tx = withoutMemos(good());
      tx.transaction.message.instructions.push(memoIx(depositMemo(name)));
      expect(refusal(tx).code, name).toBe('CUSTODY__DEPOSIT_BAD_MEMO');
    }
  });

  it('counts a memo made by another program through CPI (inner instructions)', () => {
    const tx = withoutMemos(good());
    tx.meta!.innerInstructions = [{ index: 2, instructions: [{ ...memoIx(depositMemo(WALLET)), stackHeight: 2 }] }];
    expect(verify(tx).ok).toBe(true);
    tx.transaction.message.instructions.push(memoIx(depositMemo(FRIEND_TOKEN)));
    expect(refusal(tx).code).toBe('CUSTODY__DEPOSIT_BAD_MEMO');
  });

  it('is malformed when RPC answers for another signature or with amounts that are not u64', () => {
    const other = verify({ ...good(), transaction: { ...good().transaction, signatures: ['other'] } }, sigOf(good()));
    expect(!other.ok && other.error.code).toBe('CUSTODY__DEPOSIT_MALFORMED');
    const tx = good();
    tx.meta!.postTokenBalances![1]!.uiTokenAmount.amount = '42.5';
    expect(refusal(tx).code).toBe('CUSTODY__DEPOSIT_MALFORMED');
    expect(refusal({ ...good(), meta: null }).code).toBe('CUSTODY__DEPOSIT_MALFORMED');
  });

  it('checks failure before destination and memo', () => {
    const tx = withoutMemos(structuredClone(failedFixture) as unknown as RpcTransaction);
    setKey(tx, 2, FRIEND_TOKEN);
    expect(refusal(tx).code).toBe('CUSTODY__DEPOSIT_FAILED');
  });
});
