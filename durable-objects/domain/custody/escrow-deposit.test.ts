import { describe, expect, it } from 'vitest';
import { escrowAddresses, escrowConfigAddress } from '../../../programs/client/program-addresses.ts';
import { ESCROW_INSTRUCTIONS, ESCROW_PROGRAM_ID } from '../../../programs/escrow/constants.ts';
import type { DomainError } from '../result.ts';
import {
  verifyEscrowDeposit,
  type EscrowDepositConfig,
  type RpcCompiledInstruction,
  type RpcPartiallyDecodedInstruction,
  type RpcTransaction,
} from './deposit.ts';
import custodyJsonFixture from './fixtures/deposit-json-legacy.json';
import custodyParsedFixture from './fixtures/deposit-jsonparsed-v0.json';
import jsonFixture from './fixtures/escrow-deposit-json-v0.json';
import parsedFixture from './fixtures/escrow-deposit-jsonparsed-v0.json';
import { BUYER, BUYER_TOKEN, ESCROW, ESCROW_CONFIG, FEE_PAYER, MINT, OTHER_BUYER, OTHER_BUYER_TOKEN, OTHER_ESCROW, OTHER_VAULT, ROUTER, TOKEN_PROGRAM, USDC, VAULT, data, escrowIx, insertKey, renumber, setBalance, transferIx } from './fixtures/test-escrow-transactions.ts';

/*
 * The fixtures are one getTransaction answer written by hand in the shape mainnet RPC returns, in
 * both encodings: a v0 transaction (escrow config and mint loaded from a lookup table) where the
 * buyer, who also pays the fee, calls the escrow program's `deposit` for 25 $DOUG; the program
 * moves them by a TransferChecked CPI (an inner instruction) from the buyer's associated token
 * account into the vault, which held 3.25 before. jsonParsed gives the escrow instruction
 * "partially decoded" (keys, base58 data); json gives it compiled (indices, base58 data).
 */

const FRIEND_TOKEN = 'B1hYiGk83H5TbRq1fg7DoA82aHiWg1GUSdW4BU5EKVC3';
const SIGNATURE = '5kwnNCqbLGicfmhiS9foWQqFqXPZc8Kt94LXxujiG4H12hspSPWXXHonJNCxPVD96LVhZyPgn6CJyrAsKchDVVdp';

const config: EscrowDepositConfig = { mint: MINT, decimals: 9, escrowProgram: ESCROW_PROGRAM_ID, depositInstruction: ESCROW_INSTRUCTIONS.deposit };

/** What the fixtures credit: 25 $DOUG to the buyer, at the fixtures' slot and time. */
const CREDIT = { signature: SIGNATURE, account: BUYER, amount: 25_000_000_000n, slot: 380_124_001, blockTime: 1_767_226_000 };

const parsed = (): RpcTransaction => structuredClone(parsedFixture) as unknown as RpcTransaction;
const compiled = (): RpcTransaction => structuredClone(jsonFixture) as unknown as RpcTransaction;
const verify = (tx: RpcTransaction | null | undefined, signature = SIGNATURE) => verifyEscrowDeposit({ signature, transaction: tx, config });
const refusal = (tx: RpcTransaction, signature = SIGNATURE): DomainError => {
  const r = verify(tx, signature);
  if (r.ok) throw new Error(`expected a refusal, got a deposit of ${r.value.amount} to ${r.value.account}`);
  return r.error;
};

/** An escrow `deposit` as jsonParsed gives it (partially decoded). */
const depositIx = (o: { buyer: string; buyerToken: string; escrow: string; vault: string; amount: bigint; stackHeight?: number | null }): RpcPartiallyDecodedInstruction => ({
  accounts: [o.buyer, o.buyerToken, o.escrow, o.vault, ESCROW_CONFIG, MINT, TOKEN_PROGRAM],
  data: data(ESCROW_INSTRUCTIONS.deposit, o.amount),
  programId: ESCROW_PROGRAM_ID,
  stackHeight: o.stackHeight ?? null,
});

describe('an escrow deposit as mainnet RPC returns it', () => {
  it('credits the buyer with the vault’s exact increase (v0, jsonParsed, deposit at the top level)', () => {
    expect(verify(parsed())).toEqual({ ok: true, value: CREDIT });
  });

  it('reads the json encoding the same way: compiled instructions, indices into the static and looked-up keys', () => {
    expect(verify(compiled())).toEqual({ ok: true, value: CREDIT });
  });

  it('has the buyer’s own escrow, vault and config addresses in its fixtures', async () => {
    expect(await escrowAddresses(BUYER)).toEqual({ escrow: ESCROW, vault: VAULT });
    expect(await escrowAddresses(OTHER_BUYER)).toEqual({ escrow: OTHER_ESCROW, vault: OTHER_VAULT });
    expect(await escrowConfigAddress()).toBe(ESCROW_CONFIG);
  });

  it('credits a deposit made by another program through CPI (jsonParsed: the escrow deposit only among the inner instructions)', () => {
    const tx = parsed();
    tx.transaction.message.accountKeys.splice(7, 0, { pubkey: ROUTER, signer: false, writable: false, source: 'transaction' });
    const deposit = escrowIx(tx) as RpcPartiallyDecodedInstruction;
    tx.transaction.message.instructions[2] = { programId: ROUTER, accounts: [...deposit.accounts, ESCROW_PROGRAM_ID], data: '3Bxs4Bc3VYuGVB19', stackHeight: null };
    tx.meta!.innerInstructions = [
      { index: 2, instructions: [{ ...deposit, stackHeight: 2 }, transferIx({ source: BUYER_TOKEN, destination: VAULT, authority: BUYER, amount: 25_000_000_000n, stackHeight: 3 })] },
    ];
    expect(verify(tx)).toEqual({ ok: true, value: CREDIT });
  });

  it('credits a deposit made through CPI in the json encoding (a compiled inner instruction)', () => {
    const tx = compiled();
    // The router becomes static key 7; the looked-up config and mint move from 7, 8 to 8, 9.
    renumber(tx, (i) => (i >= 7 ? i + 1 : i));
    (tx.transaction.message.accountKeys as string[]).push(ROUTER);
    const deposit = escrowIx(tx) as RpcCompiledInstruction;
    const transfer = tx.meta!.innerInstructions![0]!.instructions[0] as RpcCompiledInstruction;
    tx.transaction.message.instructions[2] = { programIdIndex: 7, accounts: [...deposit.accounts, 5], data: '3Bxs4Bc3VYuGVB19', stackHeight: null };
    tx.meta!.innerInstructions = [{ index: 2, instructions: [{ ...deposit, stackHeight: 2 }, { ...transfer, stackHeight: 3 }] }];
    expect(verify(tx)).toEqual({ ok: true, value: CREDIT });
  });

  it('credits two deposits of the same buyer in one transaction with the vault’s total increase', () => {
    const tx = parsed();
    tx.transaction.message.instructions.push(depositIx({ buyer: BUYER, buyerToken: BUYER_TOKEN, escrow: ESCROW, vault: VAULT, amount: 5_000_000_000n }));
    tx.meta!.innerInstructions!.push({ index: 3, instructions: [transferIx({ source: BUYER_TOKEN, destination: VAULT, authority: BUYER, amount: 5_000_000_000n, stackHeight: 2 })] });
    setBalance(tx, 1, '120000000000', '90000000000', BUYER);
    setBalance(tx, 3, '3250000000', '33250000000');
    expect(verify(tx)).toEqual({ ok: true, value: { ...CREDIT, amount: 30_000_000_000n } });
  });

  it('credits the buyer (the deposit’s first account), not the fee payer, when someone else pays the fee', () => {
    const tx = parsed();
    insertKey(tx, 0, FEE_PAYER, { signer: true, writable: true });
    expect(verify(tx)).toEqual({ ok: true, value: CREDIT });
  });

  it('credits the buyer, not the fee payer, in the json encoding too (the fee payer is key 0)', () => {
    const tx = compiled();
    renumber(tx, (i) => i + 1);
    (tx.transaction.message.accountKeys as string[]).unshift(FEE_PAYER);
    expect(escrowIx(tx).accounts).toEqual([1, 2, 3, 4, 8, 9, 7]);
    expect(verify(tx)).toEqual({ ok: true, value: CREDIT });
  });

  it('takes a missing pre balance of the vault as zero: an escrow opened and funded in one transaction', () => {
    const tx = parsed();
    tx.transaction.message.instructions.splice(2, 0, {
      accounts: [BUYER, ESCROW, VAULT, ESCROW_CONFIG, MINT, '11111111111111111111111111111111', TOKEN_PROGRAM],
      data: data(ESCROW_INSTRUCTIONS.openEscrow),
      programId: ESCROW_PROGRAM_ID,
      stackHeight: null,
    });
    tx.meta!.innerInstructions![0]!.index = 3;
    setBalance(tx, 3, null, '25000000000');
    expect(verify(tx)).toEqual({ ok: true, value: CREDIT });
  });

  it('counts only the vault: $DOUG sent elsewhere in the same transaction is not credited', () => {
    const tx = parsed();
    tx.transaction.message.accountKeys.splice(4, 0, { pubkey: FRIEND_TOKEN, signer: false, writable: true, source: 'transaction' });
    tx.transaction.message.instructions.push(transferIx({ source: BUYER_TOKEN, destination: FRIEND_TOKEN, authority: BUYER, amount: 1_000_000_000n, stackHeight: null }));
    setBalance(tx, 1, '120000000000', '94000000000', BUYER);
    setBalance(tx, 4, '0', '1000000000', OTHER_BUYER);
    expect(verify(tx)).toEqual({ ok: true, value: CREDIT });
  });

  it('finds the vault among the lookup-table keys of the json encoding', () => {
    const tx = compiled();
    // The vault moves from static key 3 to the loaded writable keys (index 6, before the readonly 7 and 8).
    renumber(tx, (i) => (i === 3 ? 6 : i > 3 && i < 7 ? i - 1 : i));
    (tx.transaction.message.accountKeys as string[]).splice(3, 1);
    tx.meta!.loadedAddresses!.writable = [VAULT];
    expect(escrowIx(tx).accounts).toEqual([0, 1, 2, 6, 7, 8, 5]);
    expect(verify(tx)).toEqual({ ok: true, value: CREDIT });
  });
});

describe('a transaction that is not a good escrow deposit', () => {
  it('is unknown when RPC has no such transaction (or not at finalized yet)', () => {
    expect(verify(null)).toEqual({ ok: false, error: expect.objectContaining({ code: 'CUSTODY__DEPOSIT_UNKNOWN', context: { signature: SIGNATURE } }) });
    expect(verify(undefined)).toMatchObject({ ok: false, error: { code: 'CUSTODY__DEPOSIT_UNKNOWN' } });
  });

  it('is refused when it failed on chain, with the chain error', () => {
    const tx = parsed();
    tx.meta!.err = { InstructionError: [2, { Custom: 6011 }] };
    const error = refusal(tx);
    expect(error).toMatchObject({ code: 'CUSTODY__DEPOSIT_FAILED', context: { signature: SIGNATURE, error: '{"InstructionError":[2,{"Custom":6011}]}' } });
    expect(error.message).toContain('{"InstructionError":[2,{"Custom":6011}]}');
  });

  it('is malformed when RPC answers with the transaction of another signature', () => {
    const other = '4tuwRES4acWW7SF57GuVUgQNtJBLiJhiWKdt5EFDq9PBTMgeJUYvcPLGdWrK8EgEDYzNWEubGYq3rxpSWExxcqvN';
    expect(refusal(parsed(), other)).toMatchObject({ code: 'CUSTODY__DEPOSIT_MALFORMED', context: { signature: other, problem: `it is the transaction of signature ${SIGNATURE}` } });
  });

  it('is not an escrow deposit when it is a plain custody deposit (token transfer and memo), in either encoding', () => {
    for (const fixture of [custodyJsonFixture, custodyParsedFixture]) {
      const tx = structuredClone(fixture) as unknown as RpcTransaction;
      const signature = tx.transaction.signatures[0]!;
      expect(refusal(tx, signature), signature).toMatchObject({ code: 'CUSTODY__DEPOSIT_NOT_ESCROW', context: { signature, escrowProgram: ESCROW_PROGRAM_ID } });
    }
  });

  it('is not an escrow deposit when $DOUG is transferred straight into the vault, without the escrow program', () => {
    const tx = parsed();
    tx.transaction.message.instructions[2] = transferIx({ source: BUYER_TOKEN, destination: VAULT, authority: BUYER, amount: 25_000_000_000n, stackHeight: null });
    tx.meta!.innerInstructions = [];
    expect(refusal(tx)).toMatchObject({ code: 'CUSTODY__DEPOSIT_NOT_ESCROW', context: { escrowProgram: ESCROW_PROGRAM_ID } });
  });

  it('is not an escrow deposit when its only escrow instruction is of another kind (openEscrow, settle, withdraw), in either encoding', () => {
    const kinds = { openEscrow: data(ESCROW_INSTRUCTIONS.openEscrow), settle: data(ESCROW_INSTRUCTIONS.settle, 7n), withdraw: data(ESCROW_INSTRUCTIONS.withdraw, 25_000_000_000n) };
    expect(kinds.openEscrow).toBe('4'); // the single byte 3
    for (const [kind, bytes] of Object.entries(kinds)) {
      for (const tx of [parsed(), compiled()]) {
        escrowIx(tx).data = bytes;
        expect(refusal(tx).code, kind).toBe('CUSTODY__DEPOSIT_NOT_ESCROW');
      }
    }
  });

  it('is not an escrow deposit when the escrow instruction’s data is empty or not base58', () => {
    for (const bytes of ['', '0OIl']) {
      const tx = parsed();
      escrowIx(tx).data = bytes;
      expect(refusal(tx).code, JSON.stringify(bytes)).toBe('CUSTODY__DEPOSIT_NOT_ESCROW');
    }
  });

  it('is not an escrow deposit when another program has an instruction numbered like deposit', () => {
    const tx = parsed();
    tx.transaction.message.accountKeys.splice(7, 0, { pubkey: ROUTER, signer: false, writable: false, source: 'transaction' });
    (escrowIx(tx) as RpcPartiallyDecodedInstruction).programId = ROUTER;
    expect(refusal(tx)).toMatchObject({ code: 'CUSTODY__DEPOSIT_NOT_ESCROW', context: { escrowProgram: ESCROW_PROGRAM_ID } });

    const json = compiled();
    (escrowIx(json) as RpcCompiledInstruction).programIdIndex = 6; // the token program
    expect(refusal(json).code).toBe('CUSTODY__DEPOSIT_NOT_ESCROW');
  });

  it('is refused when it deposits into the escrows of two buyers', () => {
    const tx = parsed();
    tx.transaction.message.instructions.push(depositIx({ buyer: OTHER_BUYER, buyerToken: OTHER_BUYER_TOKEN, escrow: OTHER_ESCROW, vault: OTHER_VAULT, amount: 5_000_000_000n }));
    tx.meta!.innerInstructions!.push({
      index: 3,
      instructions: [transferIx({ source: OTHER_BUYER_TOKEN, destination: OTHER_VAULT, authority: OTHER_BUYER, amount: 5_000_000_000n, stackHeight: 2 })],
    });
    insertKey(tx, 1, OTHER_BUYER, { signer: true, writable: true });
    // Static keys 5, 6, 7: the other buyer's token account, escrow and vault.
    for (const key of [OTHER_VAULT, OTHER_ESCROW, OTHER_BUYER_TOKEN]) insertKey(tx, 5, key, { writable: true });
    setBalance(tx, 5, '8000000000', '3000000000', OTHER_BUYER);
    setBalance(tx, 7, '0', '5000000000', OTHER_ESCROW);
    expect(refusal(tx)).toMatchObject({ code: 'CUSTODY__DEPOSIT_SEVERAL_ESCROWS', context: { signature: SIGNATURE, buyers: `${BUYER}, ${OTHER_BUYER}` } });
  });

  it('is refused when a second buyer’s deposit comes through CPI', () => {
    const tx = parsed();
    tx.meta!.innerInstructions![0]!.instructions.push(depositIx({ buyer: OTHER_BUYER, buyerToken: OTHER_BUYER_TOKEN, escrow: OTHER_ESCROW, vault: OTHER_VAULT, amount: 1n, stackHeight: 2 }));
    expect(refusal(tx).code).toBe('CUSTODY__DEPOSIT_SEVERAL_ESCROWS');
  });

  it('is a wrong mint when the vault’s balance is of another mint', () => {
    const tx = parsed();
    for (const b of [...tx.meta!.preTokenBalances!, ...tx.meta!.postTokenBalances!]) {
      if (b.accountIndex !== 3) continue;
      b.mint = USDC;
      b.uiTokenAmount.decimals = 6;
    }
    expect(refusal(tx)).toMatchObject({ code: 'CUSTODY__DEPOSIT_WRONG_MINT', context: { signature: SIGNATURE, mint: USDC, decimals: 6, expectedMint: MINT, expectedDecimals: 9 } });
  });

  it('is a wrong mint when the vault’s balance is not in 9 decimals', () => {
    const tx = parsed();
    for (const b of [...tx.meta!.preTokenBalances!, ...tx.meta!.postTokenBalances!]) if (b.accountIndex === 3) b.uiTokenAmount.decimals = 6;
    expect(refusal(tx)).toMatchObject({ code: 'CUSTODY__DEPOSIT_WRONG_MINT', context: { mint: MINT, decimals: 6, expectedDecimals: 9 } });
  });

  it('is a wrong destination when the vault did not grow', () => {
    const tx = parsed();
    setBalance(tx, 3, '3250000000', '3250000000');
    expect(refusal(tx)).toMatchObject({ code: 'CUSTODY__DEPOSIT_WRONG_DESTINATION', context: { signature: SIGNATURE, mint: MINT, vault: VAULT } });
  });

  it('is a wrong destination when the vault shrank or has no token balance at all', () => {
    const shrank = parsed();
    setBalance(shrank, 3, '3250000000', '3249999999');
    expect(refusal(shrank).code).toBe('CUSTODY__DEPOSIT_WRONG_DESTINATION');
    const absent = compiled();
    setBalance(absent, 3, null, null);
    expect(refusal(absent)).toMatchObject({ code: 'CUSTODY__DEPOSIT_WRONG_DESTINATION', context: { vault: VAULT } });
  });

  it('is malformed when a token balance entry is unreadable', () => {
    const fraction = parsed();
    fraction.meta!.postTokenBalances![1]!.uiTokenAmount.amount = '28.25';
    expect(refusal(fraction)).toMatchObject({ code: 'CUSTODY__DEPOSIT_MALFORMED', context: { signature: SIGNATURE } });
    expect(refusal(fraction).message).toContain('postTokenBalances has an unreadable entry');

    const noAmount = compiled();
    delete (noAmount.meta!.preTokenBalances![0] as { uiTokenAmount?: unknown }).uiTokenAmount;
    expect(refusal(noAmount).code).toBe('CUSTODY__DEPOSIT_MALFORMED');

    const noMeta = { ...parsed(), meta: null };
    expect(refusal(noMeta).code).toBe('CUSTODY__DEPOSIT_MALFORMED');
  });

  it('checks the chain status before looking for the escrow instruction', () => {
    const tx = structuredClone(custodyParsedFixture) as unknown as RpcTransaction;
    tx.meta!.err = { InstructionError: [2, { Custom: 1 }] };
    expect(refusal(tx, tx.transaction.signatures[0]!).code).toBe('CUSTODY__DEPOSIT_FAILED');
  });
});
