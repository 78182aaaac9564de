import { describe, expect, it } from 'vitest';
import { escrowAddresses, escrowConfigAddress } from '../../../programs/client/program-addresses.ts';
import { ESCROW_INSTRUCTIONS, ESCROW_PROGRAM_ID } from '../../../programs/escrow/constants.ts';
import type { DomainError } from '../result.ts';
import {
  depositRef,
  escrowExitRef,
  verifyEscrowDeposit,
  verifyEscrowExit,
  type EscrowExitConfig,
  type RpcCompiledInstruction,
  type RpcPartiallyDecodedInstruction,
  type RpcTransaction,
} from './deposit.ts';
import depositFixture from './fixtures/escrow-deposit-jsonparsed-v0.json';
import jsonFixture from './fixtures/escrow-exit-json-v0.json';
import parsedFixture from './fixtures/escrow-exit-jsonparsed-v0.json';
import { BUYER, BUYER_TOKEN, ESCROW, ESCROW_CONFIG, FEE_PAYER, MINT, OTHER_BUYER, OTHER_BUYER_TOKEN, OTHER_ESCROW, OTHER_VAULT, ROUTER, TOKEN_PROGRAM, USDC, VAULT, data, escrowIx, insertKey, keyOf, setBalance, transferIx } from './fixtures/test-escrow-transactions.ts';

/*
 * The fixtures are one getTransaction answer written by hand in the shape mainnet RPC returns, in
 * both encodings: a v0 transaction (escrow config and mint loaded from a lookup table) where the
 * buyer, the fee payer and only signer, calls the escrow program's `withdraw` alone, after the
 * timelock of an earlier request, for all 28.25 $DOUG of their vault. The settlement authority is
 * among the withdraw's accounts but does not sign. The program pays by a TransferChecked CPI (an
 * inner instruction) from the vault to the buyer's token account, the escrow's PDA signing; the
 * vault goes from 28.25 to 0 and the buyer's token account from 95 to 123.25. jsonParsed gives the
 * escrow instruction partially decoded (keys, base58 data) and the keys with signer flags; json
 * gives bare keys and compiled instructions, which the verifier refuses (no signer flags).
 */

const AUTHORITY = 'GGWVSp2dZycTZ4qHg1A7VLUj6q6nxvVosWJ6wjBSYR48';
/** Another token of 9 decimals. */
const LOOKALIKE = 'b5iqTFRprNhqF4yBYT8y7TPZHafkzYgZQYhAcy6F1PP';
const SIGNATURE = '5LUiKHJ5ZGm9uy2NxV2ssT7UmCjFLUFatmj1qugs47HcVsNp7vXzsSkwXhMmSQKAMMVCMuuRBQNrdbNBx1k5hxK8';

const config: EscrowExitConfig = { mint: MINT, decimals: 9, escrowProgram: ESCROW_PROGRAM_ID, withdrawInstruction: ESCROW_INSTRUCTIONS.withdraw, authority: AUTHORITY };

/** What the fixture debits: 28.25 $DOUG from the buyer, at the fixture's slot and time. */
const EXIT = { signature: SIGNATURE, account: BUYER, amount: 28_250_000_000n, slot: 381_902_417, blockTime: 1_767_941_400 };

/** Why a transaction whose vault did not pay out is refused. */
const NO_PAYOUT = `the escrow vault ${VAULT} did not pay out ${MINT}`;

const parsed = (): RpcTransaction => structuredClone(parsedFixture) as unknown as RpcTransaction;
const compiled = (): RpcTransaction => structuredClone(jsonFixture) as unknown as RpcTransaction;
const verify = (tx: RpcTransaction | null | undefined, signature = SIGNATURE) => verifyEscrowExit({ signature, transaction: tx, config });
const refusal = (tx: RpcTransaction, signature = SIGNATURE): DomainError => {
  const r = verify(tx, signature);
  if (r.ok) throw new Error(`expected a refusal, got an exit of ${r.value.amount} from ${r.value.account}`);
  return r.error;
};

/** An escrow `withdraw` as jsonParsed gives it (partially decoded): buyer, authority, config, escrow, vault, buyer's token account, mint, token program. */
const withdrawIx = (o: { buyer: string; buyerToken: string; escrow: string; vault: string; amount: bigint; stackHeight?: number | null }): RpcPartiallyDecodedInstruction => ({
  accounts: [o.buyer, AUTHORITY, ESCROW_CONFIG, o.escrow, o.vault, o.buyerToken, MINT, TOKEN_PROGRAM],
  data: data(ESCROW_INSTRUCTIONS.withdraw, o.amount),
  programId: ESCROW_PROGRAM_ID,
  stackHeight: o.stackHeight ?? null,
});

/** The fixture's authority key (static key 7, after every token balance) taken out, to be put back elsewhere. */
const removeAuthority = (tx: RpcTransaction) => {
  expect(keyOf(tx, AUTHORITY)).toBe(tx.transaction.message.accountKeys[7]);
  tx.transaction.message.accountKeys.splice(7, 1);
};

describe('a buyer’s own withdrawal as mainnet RPC returns it (jsonParsed)', () => {
  it('debits the buyer with what left the vault (v0, withdraw at the top level, only the buyer signing)', () => {
    expect(verify(parsed())).toEqual({ ok: true, value: EXIT });
  });

  it('has the buyer’s escrow, vault and config, the withdraw’s accounts and the authority as a non-signer in its fixture', async () => {
    expect(await escrowAddresses(BUYER)).toEqual({ escrow: ESCROW, vault: VAULT });
    expect(await escrowConfigAddress()).toBe(ESCROW_CONFIG);
    const tx = parsed();
    expect(escrowIx(tx)).toMatchObject({
      programId: ESCROW_PROGRAM_ID,
      accounts: [BUYER, AUTHORITY, ESCROW_CONFIG, ESCROW, VAULT, BUYER_TOKEN, MINT, TOKEN_PROGRAM],
      data: data(ESCROW_INSTRUCTIONS.withdraw, 28_250_000_000n),
    });
    expect(ESCROW_INSTRUCTIONS.withdraw).toBe(8);
    expect(keyOf(tx, AUTHORITY)).toMatchObject({ signer: false, writable: false });
    expect(tx.transaction.message.accountKeys.filter((k) => typeof k !== 'string' && k.signer)).toEqual([expect.objectContaining({ pubkey: BUYER })]);
    expect(escrowIx(compiled())).toMatchObject({ programIdIndex: 5, accounts: [0, 7, 8, 2, 3, 1, 9, 6], data: escrowIx(tx).data });
  });

  it('debits under a ref of its own, apart from the deposit refs', () => {
    expect(escrowExitRef(SIGNATURE)).toBe(`escrow-exit:${SIGNATURE}`);
    expect(escrowExitRef(SIGNATURE)).not.toBe(depositRef(SIGNATURE));
  });

  it('debits a withdrawal made by another program through CPI (the escrow withdraw only among the inner instructions)', () => {
    const tx = parsed();
    insertKey(tx, 8, ROUTER);
    const withdraw = escrowIx(tx) as RpcPartiallyDecodedInstruction;
    tx.transaction.message.instructions[2] = { programId: ROUTER, accounts: [...withdraw.accounts, ESCROW_PROGRAM_ID], data: '3Bxs4Bc3VYuGVB19', stackHeight: null };
    tx.meta!.innerInstructions = [
      { index: 2, instructions: [{ ...withdraw, stackHeight: 2 }, transferIx({ source: VAULT, destination: BUYER_TOKEN, authority: ESCROW, amount: 28_250_000_000n, stackHeight: 3 })] },
    ];
    expect(verify(tx)).toEqual({ ok: true, value: EXIT });
  });

  it('debits the vault’s exact decrease: a partial withdrawal leaves the rest in escrow', () => {
    const tx = parsed();
    escrowIx(tx).data = data(ESCROW_INSTRUCTIONS.withdraw, 25_000_000_000n);
    tx.meta!.innerInstructions![0]!.instructions = [transferIx({ source: VAULT, destination: BUYER_TOKEN, authority: ESCROW, amount: 25_000_000_000n, stackHeight: 2 })];
    setBalance(tx, 1, '95000000000', '120000000000', BUYER);
    setBalance(tx, 3, '28250000000', '3250000000');
    expect(verify(tx)).toEqual({ ok: true, value: { ...EXIT, amount: 25_000_000_000n } });
  });

  it('debits two withdrawals of the same buyer in one transaction with the vault’s total decrease', () => {
    const tx = parsed();
    escrowIx(tx).data = data(ESCROW_INSTRUCTIONS.withdraw, 20_000_000_000n);
    tx.meta!.innerInstructions![0]!.instructions = [transferIx({ source: VAULT, destination: BUYER_TOKEN, authority: ESCROW, amount: 20_000_000_000n, stackHeight: 2 })];
    tx.transaction.message.instructions.push(withdrawIx({ buyer: BUYER, buyerToken: BUYER_TOKEN, escrow: ESCROW, vault: VAULT, amount: 8_250_000_000n }));
    tx.meta!.innerInstructions!.push({ index: 3, instructions: [transferIx({ source: VAULT, destination: BUYER_TOKEN, authority: ESCROW, amount: 8_250_000_000n, stackHeight: 2 })] });
    expect(verify(tx)).toEqual({ ok: true, value: EXIT });
  });

  it('debits the buyer (the withdraw’s first account), not the fee payer, when another key pays the fee and signs', () => {
    const tx = parsed();
    insertKey(tx, 0, FEE_PAYER, { signer: true, writable: true });
    expect(tx.transaction.message.accountKeys.filter((k) => typeof k !== 'string' && k.signer)).toHaveLength(2);
    expect(verify(tx)).toEqual({ ok: true, value: EXIT });
  });

  it('nets a deposit into the same vault in the same transaction: the exit debits the net decrease, a net increase is the deposit’s', () => {
    const deposit = {
      accounts: [BUYER, BUYER_TOKEN, ESCROW, VAULT, ESCROW_CONFIG, MINT, TOKEN_PROGRAM],
      data: data(ESCROW_INSTRUCTIONS.deposit, 5_000_000_000n),
      programId: ESCROW_PROGRAM_ID,
      stackHeight: null,
    };
    const tx = parsed();
    tx.transaction.message.instructions.push(deposit);
    tx.meta!.innerInstructions!.push({ index: 3, instructions: [transferIx({ source: BUYER_TOKEN, destination: VAULT, authority: BUYER, amount: 5_000_000_000n, stackHeight: 2 })] });
    setBalance(tx, 1, '95000000000', '118250000000', BUYER);
    setBalance(tx, 3, '28250000000', '5000000000');
    expect(verify(tx)).toEqual({ ok: true, value: { ...EXIT, amount: 23_250_000_000n } });

    const grew = parsed();
    grew.transaction.message.instructions.push({ ...deposit, data: data(ESCROW_INSTRUCTIONS.deposit, 30_000_000_000n) });
    setBalance(grew, 1, '95000000000', '93250000000', BUYER);
    setBalance(grew, 3, '28250000000', '30000000000');
    expect(refusal(grew)).toMatchObject({ code: 'CUSTODY__DEPOSIT_MALFORMED', context: { problem: NO_PAYOUT } });
    const depositConfig = { mint: MINT, decimals: 9, escrowProgram: ESCROW_PROGRAM_ID, depositInstruction: ESCROW_INSTRUCTIONS.deposit };
    expect(verifyEscrowDeposit({ signature: SIGNATURE, transaction: grew, config: depositConfig })).toMatchObject({ ok: true, value: { account: BUYER, amount: 1_750_000_000n } });
  });
});

describe('a transaction that is not a buyer’s own withdrawal', () => {
  it('is unknown when RPC has no such transaction (or not at finalized yet)', () => {
    expect(verify(null)).toEqual({ ok: false, error: expect.objectContaining({ code: 'CUSTODY__DEPOSIT_UNKNOWN', context: { signature: SIGNATURE } }) });
    expect(verify(undefined)).toMatchObject({ ok: false, error: { code: 'CUSTODY__DEPOSIT_UNKNOWN' } });
  });

  it('is refused when it failed on chain (the timelock had not elapsed), with the chain error', () => {
    const tx = parsed();
    tx.meta!.err = { InstructionError: [2, { Custom: 6012 }] };
    const error = refusal(tx);
    expect(error).toMatchObject({ code: 'CUSTODY__DEPOSIT_FAILED', context: { signature: SIGNATURE, error: '{"InstructionError":[2,{"Custom":6012}]}' } });
    expect(error.message).toContain('{"InstructionError":[2,{"Custom":6012}]}');
  });

  it('is malformed when RPC answers with the transaction of another signature', () => {
    const other = '4tuwRES4acWW7SF57GuVUgQNtJBLiJhiWKdt5EFDq9PBTMgeJUYvcPLGdWrK8EgEDYzNWEubGYq3rxpSWExxcqvN';
    expect(refusal(parsed(), other)).toMatchObject({ code: 'CUSTODY__DEPOSIT_MALFORMED', context: { signature: other, problem: `it is the transaction of signature ${SIGNATURE}` } });
  });

  it('is co-signed when the settlement authority signed it, the same transaction otherwise', () => {
    const tx = parsed();
    keyOf(tx, AUTHORITY).signer = true;
    const error = refusal(tx);
    expect(error).toEqual({ code: 'CUSTODY__EXIT_COSIGNED', message: expect.stringContaining(SIGNATURE), context: { signature: SIGNATURE, authority: AUTHORITY } });
  });

  it('is co-signed when the authority pays the fee, as the marketplace’s own co-signed withdrawals do, or signs second', () => {
    const payer = parsed();
    removeAuthority(payer);
    insertKey(payer, 0, AUTHORITY, { signer: true, writable: true });
    expect(refusal(payer)).toMatchObject({ code: 'CUSTODY__EXIT_COSIGNED', context: { authority: AUTHORITY } });

    const second = parsed();
    removeAuthority(second);
    insertKey(second, 1, AUTHORITY, { signer: true });
    expect(refusal(second)).toMatchObject({ code: 'CUSTODY__EXIT_COSIGNED', context: { authority: AUTHORITY } });
  });

  it('is co-signed when the authority of the day signed it, though the authority has rotated since', () => {
    const tx = parsed();
    keyOf(tx, AUTHORITY).signer = true;
    const rotated = verifyEscrowExit({ signature: SIGNATURE, transaction: tx, config: { ...config, authority: FEE_PAYER } });
    expect(rotated.ok).toBe(false);
    if (!rotated.ok) expect(rotated.error).toMatchObject({ code: 'CUSTODY__EXIT_COSIGNED', context: { authority: AUTHORITY } });
    // Not signed by the withdraw's authority: a solo exit, whatever the authority is now.
    expect(verifyEscrowExit({ signature: SIGNATURE, transaction: parsed(), config: { ...config, authority: FEE_PAYER } })).toEqual({ ok: true, value: EXIT });
  });

  it('is malformed when its keys carry no signer flags (the json encoding), co-signed or not', () => {
    const problem = 'its account keys carry no signer flags: read it with encoding jsonParsed';
    expect(refusal(compiled())).toMatchObject({ code: 'CUSTODY__DEPOSIT_MALFORMED', context: { signature: SIGNATURE, problem } });

    const bare = parsed();
    bare.transaction.message.accountKeys = bare.transaction.message.accountKeys.map((k) => (typeof k === 'string' ? k : k.pubkey));
    expect(refusal(bare)).toMatchObject({ code: 'CUSTODY__DEPOSIT_MALFORMED', context: { problem } });
  });

  it('is not a withdrawal when its only escrow instruction is of another kind (deposit, settle, …), in either encoding', () => {
    const kinds = {
      openEscrow: data(ESCROW_INSTRUCTIONS.openEscrow),
      deposit: data(ESCROW_INSTRUCTIONS.deposit, 28_250_000_000n),
      settle: data(ESCROW_INSTRUCTIONS.settle, 7n),
      requestWithdrawal: data(ESCROW_INSTRUCTIONS.requestWithdrawal),
      cancelWithdrawalRequest: data(ESCROW_INSTRUCTIONS.cancelWithdrawalRequest),
    };
    expect([ESCROW_INSTRUCTIONS.deposit, ESCROW_INSTRUCTIONS.settle]).toEqual([4, 5]);
    for (const [kind, bytes] of Object.entries(kinds)) {
      for (const tx of [parsed(), compiled()]) {
        escrowIx(tx).data = bytes;
        expect(refusal(tx), kind).toMatchObject({ code: 'CUSTODY__EXIT_NOT_WITHDRAWAL', context: { signature: SIGNATURE, escrowProgram: ESCROW_PROGRAM_ID } });
      }
    }
  });

  it('is not a withdrawal when it is an escrow deposit', () => {
    const tx = structuredClone(depositFixture) as unknown as RpcTransaction;
    const signature = tx.transaction.signatures[0]!;
    expect(refusal(tx, signature)).toMatchObject({ code: 'CUSTODY__EXIT_NOT_WITHDRAWAL', context: { signature, escrowProgram: ESCROW_PROGRAM_ID } });
  });

  it('is not a withdrawal when another program has an instruction numbered like withdraw', () => {
    const tx = parsed();
    insertKey(tx, 8, ROUTER);
    (escrowIx(tx) as RpcPartiallyDecodedInstruction).programId = ROUTER;
    expect(refusal(tx)).toMatchObject({ code: 'CUSTODY__EXIT_NOT_WITHDRAWAL', context: { escrowProgram: ESCROW_PROGRAM_ID } });

    const json = compiled();
    (escrowIx(json) as RpcCompiledInstruction).programIdIndex = 6; // the token program, whose instruction 8 is Burn
    expect(refusal(json).code).toBe('CUSTODY__EXIT_NOT_WITHDRAWAL');
  });

  it('is not a withdrawal when the escrow instruction’s data is empty or not base58, or it names no vault', () => {
    for (const bytes of ['', '0OIl']) {
      const tx = parsed();
      escrowIx(tx).data = bytes;
      expect(refusal(tx).code, JSON.stringify(bytes)).toBe('CUSTODY__EXIT_NOT_WITHDRAWAL');
    }
    const short = parsed();
    (escrowIx(short) as RpcPartiallyDecodedInstruction).accounts.length = 4;
    expect(refusal(short).code).toBe('CUSTODY__EXIT_NOT_WITHDRAWAL');
  });

  it('is refused when it withdraws from the escrows of two buyers', () => {
    const tx = parsed();
    tx.transaction.message.instructions.push(withdrawIx({ buyer: OTHER_BUYER, buyerToken: OTHER_BUYER_TOKEN, escrow: OTHER_ESCROW, vault: OTHER_VAULT, amount: 5_000_000_000n }));
    tx.meta!.innerInstructions!.push({
      index: 3,
      instructions: [transferIx({ source: OTHER_VAULT, destination: OTHER_BUYER_TOKEN, authority: OTHER_ESCROW, amount: 5_000_000_000n, stackHeight: 2 })],
    });
    insertKey(tx, 1, OTHER_BUYER, { signer: true, writable: true });
    // Static keys 5, 6, 7: the other buyer's token account, escrow and vault.
    for (const key of [OTHER_VAULT, OTHER_ESCROW, OTHER_BUYER_TOKEN]) insertKey(tx, 5, key, { writable: true });
    setBalance(tx, 5, '0', '5000000000', OTHER_BUYER);
    setBalance(tx, 7, '5000000000', '0', OTHER_ESCROW);
    expect(refusal(tx)).toMatchObject({ code: 'CUSTODY__EXIT_SEVERAL_ESCROWS', context: { signature: SIGNATURE, buyers: `${BUYER}, ${OTHER_BUYER}` } });
  });

  it('is refused when a second buyer’s withdrawal comes through CPI', () => {
    const tx = parsed();
    tx.meta!.innerInstructions![0]!.instructions.push(withdrawIx({ buyer: OTHER_BUYER, buyerToken: OTHER_BUYER_TOKEN, escrow: OTHER_ESCROW, vault: OTHER_VAULT, amount: 1n, stackHeight: 2 }));
    expect(refusal(tx)).toMatchObject({ code: 'CUSTODY__EXIT_SEVERAL_ESCROWS', context: { buyers: `${BUYER}, ${OTHER_BUYER}` } });
  });

  it('is malformed when the vault grew, even by one base unit', () => {
    const tx = parsed();
    setBalance(tx, 3, '28250000000', '28250000001');
    expect(refusal(tx)).toMatchObject({ code: 'CUSTODY__DEPOSIT_MALFORMED', context: { signature: SIGNATURE, problem: NO_PAYOUT } });
  });

  it('is malformed when the vault is unchanged, though the buyer’s token account grew', () => {
    const tx = parsed();
    setBalance(tx, 3, '28250000000', '28250000000');
    expect(refusal(tx)).toMatchObject({ code: 'CUSTODY__DEPOSIT_MALFORMED', context: { problem: NO_PAYOUT } });
  });

  it('is malformed when the vault has no token balance at all', () => {
    const tx = parsed();
    setBalance(tx, 3, null, null);
    expect(refusal(tx)).toMatchObject({ code: 'CUSTODY__DEPOSIT_MALFORMED', context: { problem: NO_PAYOUT } });
  });

  it('is malformed when the vault’s balance is of another mint, in 9 decimals like ours or not', () => {
    for (const [mint, decimals] of [
      [LOOKALIKE, 9],
      [USDC, 6],
    ] as const) {
      const tx = parsed();
      for (const b of [...tx.meta!.preTokenBalances!, ...tx.meta!.postTokenBalances!]) {
        if (b.accountIndex !== 3) continue;
        b.mint = mint;
        b.uiTokenAmount.decimals = decimals;
      }
      expect(refusal(tx), mint).toMatchObject({ code: 'CUSTODY__DEPOSIT_MALFORMED', context: { problem: NO_PAYOUT } });
    }
  });

  it('is malformed when the vault’s balance of our mint is not in 9 decimals', () => {
    const tx = parsed();
    for (const b of [...tx.meta!.preTokenBalances!, ...tx.meta!.postTokenBalances!]) if (b.accountIndex === 3) b.uiTokenAmount.decimals = 6;
    expect(refusal(tx)).toMatchObject({ code: 'CUSTODY__DEPOSIT_MALFORMED', context: { problem: NO_PAYOUT } });
  });

  it('checks the chain status before looking for the withdrawal', () => {
    const tx = structuredClone(depositFixture) as unknown as RpcTransaction;
    tx.meta!.err = { InstructionError: [2, { Custom: 1 }] };
    expect(refusal(tx, tx.transaction.signatures[0]!).code).toBe('CUSTODY__DEPOSIT_FAILED');
  });
});
