import { ComputeBudgetProgram, Keypair, PublicKey, SystemProgram, Transaction, TransactionInstruction, type Signer } from '@solana/web3.js';
import {
  createAssociatedTokenAccountIdempotentInstruction,
  createInitializeMint2Instruction,
  createMintToInstruction,
  createTransferCheckedInstruction,
  getAssociatedTokenAddressSync,
  MINT_SIZE,
  TOKEN_PROGRAM_ID,
  unpackAccount,
} from '@solana/spl-token';
import { beforeEach, describe, expect, it } from 'vitest';
import { Chain, MAX_PROCESSING_AGE } from './chain.ts';
import { RpcError } from './errors.ts';
import { MEMO_PROGRAM } from '../client/address.ts';

const memo = (text: string) => new TransactionInstruction({ programId: new PublicKey(MEMO_PROGRAM), keys: [], data: Buffer.from(text) });

function signed(chain: Chain, payer: Signer, instructions: TransactionInstruction[], extra: Signer[] = [], blockhash = chain.latestBlockhash.blockhash): Uint8Array {
  const tx = new Transaction({ feePayer: payer.publicKey, recentBlockhash: blockhash }).add(...instructions);
  tx.sign(payer, ...extra);
  return tx.serialize();
}

/** Reads a token account straight from LiteSVM's public API (not through the chain's history). */
function tokenAmount(chain: Chain, address: PublicKey): bigint {
  const account = chain.svm.getAccount(address.toBase58() as Parameters<Chain['svm']['getAccount']>[0]);
  if (!account.exists) throw new Error(`no account ${address.toBase58()}`);
  return unpackAccount(address, { data: Buffer.from(account.data), owner: new PublicKey(account.programAddress), lamports: Number(account.lamports), executable: false }).amount;
}

interface Setup {
  chain: Chain;
  payer: Keypair;
  mint: PublicKey;
  alice: Keypair;
  aliceAta: PublicKey;
  bobAta: PublicKey;
}

/** A mint with 9 decimals, Alice holding 1,000 tokens and Bob an empty account. */
function setup(chain = new Chain({ slotMs: 0 })): Setup {
  const payer = Keypair.generate();
  chain.airdrop(payer.publicKey.toBase58(), 10_000_000_000n);
  const mint = Keypair.generate();
  const alice = Keypair.generate();
  const bob = Keypair.generate();
  const aliceAta = getAssociatedTokenAddressSync(mint.publicKey, alice.publicKey);
  const bobAta = getAssociatedTokenAddressSync(mint.publicKey, bob.publicKey);
  chain.send(
    signed(
      chain,
      payer,
      [
        SystemProgram.createAccount({ fromPubkey: payer.publicKey, newAccountPubkey: mint.publicKey, lamports: Number(chain.minimumBalanceForRentExemption(MINT_SIZE)), space: MINT_SIZE, programId: TOKEN_PROGRAM_ID }),
        createInitializeMint2Instruction(mint.publicKey, 9, payer.publicKey, null),
        createAssociatedTokenAccountIdempotentInstruction(payer.publicKey, aliceAta, alice.publicKey, mint.publicKey),
        createAssociatedTokenAccountIdempotentInstruction(payer.publicKey, bobAta, bob.publicKey, mint.publicKey),
        createMintToInstruction(mint.publicKey, aliceAta, payer.publicKey, 1_000_000_000_000n),
      ],
      [mint],
    ),
  );
  chain.airdrop(alice.publicKey.toBase58(), 1_000_000_000n);
  return { chain, payer, mint: mint.publicKey, alice, aliceAta, bobAta };
}

function transferWithMemo(s: Setup, amount: bigint, text: string, blockhash?: string): Uint8Array {
  return signed(s.chain, s.alice, [createTransferCheckedInstruction(s.aliceAta, s.mint, s.bobAta, s.alice.publicKey, amount, 9), memo(text)], [], blockhash);
}

describe('SPL tokens on in-process LiteSVM', () => {
  let s: Setup;
  beforeEach(() => {
    s = setup();
  });

  it('mints with 9 decimals and transfers with a memo', () => {
    expect(tokenAmount(s.chain, s.aliceAta)).toBe(1_000_000_000_000n);
    const before = s.chain.getAccount(s.alice.publicKey.toBase58())!.lamports;
    const signature = s.chain.send(transferWithMemo(s, 2_500_000_000n, 'deposit:acct-7'));

    expect(tokenAmount(s.chain, s.aliceAta)).toBe(997_500_000_000n);
    expect(tokenAmount(s.chain, s.bobAta)).toBe(2_500_000_000n);
    const record = s.chain.getTransaction(signature)!;
    expect(record.meta.err).toBeNull();
    expect(record.meta.logMessages).toContain('Program log: deposit:acct-7');
    // The fee is what the fee payer actually lost.
    expect(record.meta.fee).toBe(5000);
    expect(before - s.chain.getAccount(s.alice.publicKey.toBase58())!.lamports).toBe(5000n);
    const mint = s.mint.toBase58();
    const byOwner = (list: typeof record.meta.preTokenBalances) => Object.fromEntries(list.map((b) => [b.owner, b.uiTokenAmount.uiAmountString]));
    expect(byOwner(record.meta.preTokenBalances)).toEqual({ [s.alice.publicKey.toBase58()]: '1000', [unpackOwner(s, s.bobAta)]: '0' });
    expect(byOwner(record.meta.postTokenBalances)).toEqual({ [s.alice.publicKey.toBase58()]: '997.5', [unpackOwner(s, s.bobAta)]: '2.5' });
    expect(record.meta.postTokenBalances.every((b) => b.mint === mint && b.uiTokenAmount.decimals === 9 && b.programId === TOKEN_PROGRAM_ID.toBase58())).toBe(true);
  });

  it('charges the priority fee it reports', () => {
    const before = s.chain.getAccount(s.alice.publicKey.toBase58())!.lamports;
    const wire = signed(s.chain, s.alice, [
      ComputeBudgetProgram.setComputeUnitPrice({ microLamports: 1_000 }),
      createTransferCheckedInstruction(s.aliceAta, s.mint, s.bobAta, s.alice.publicKey, 1n, 9),
      memo('with priority'),
    ]);
    const record = s.chain.getTransaction(s.chain.send(wire))!;
    // 5,000 per signature + ceil(1,000 µlamports × (3,000 builtin + 2 × 200,000) units / 10^6).
    expect(record.meta.fee).toBe(5000 + 403);
    expect(before - s.chain.getAccount(s.alice.publicKey.toBase58())!.lamports).toBe(BigInt(record.meta.fee));
  });

  it('refuses a failing transaction at preflight without charging, and commits it when preflight is skipped', () => {
    const lamports = () => s.chain.getAccount(s.alice.publicKey.toBase58())!.lamports;
    const before = lamports();
    const tooMuch = transferWithMemo(s, 2_000_000_000_000n, 'too much');
    let refusal: unknown;
    try {
      s.chain.send(tooMuch);
    } catch (err) {
      refusal = err;
    }
    expect(refusal).toBeInstanceOf(RpcError);
    expect((refusal as RpcError).code).toBe(-32002);
    expect((refusal as RpcError).message).toBe('Transaction simulation failed: Error processing Instruction 0: custom program error: 0x1');
    expect((refusal as RpcError).data).toMatchObject({ err: { InstructionError: [0, { Custom: 1 }] }, logs: expect.arrayContaining(['Program log: Error: insufficient funds']) });
    expect(lamports()).toBe(before);

    const signature = s.chain.send(tooMuch, { skipPreflight: true });
    expect(s.chain.getTransaction(signature)?.meta.err).toEqual({ InstructionError: [0, { Custom: 1 }] });
    expect(lamports()).toBe(before - 5000n);
    expect(tokenAmount(s.chain, s.aliceAta)).toBe(1_000_000_000_000n);
  });

  it('processes a transaction once, however often it is sent', () => {
    const wire = transferWithMemo(s, 1_000_000_000n, 'once');
    const signature = s.chain.send(wire);
    expect(s.chain.send(wire, { skipPreflight: true })).toBe(signature);
    expect(() => s.chain.send(wire)).toThrow('Transaction simulation failed: This transaction has already been processed');
    expect(tokenAmount(s.chain, s.bobAta)).toBe(1_000_000_000n);
  });

  it('keeps a blockhash usable for 150 slots, then refuses it', () => {
    const { blockhash, lastValidBlockHeight } = s.chain.latestBlockhash;
    expect(lastValidBlockHeight).toBe(s.chain.slot + MAX_PROCESSING_AGE);
    s.chain.advanceSlots(MAX_PROCESSING_AGE);
    expect(s.chain.isBlockhashValid(blockhash)).toBe(true);
    s.chain.send(transferWithMemo(s, 1n, 'just in time', blockhash));
    s.chain.advanceSlots(1);
    expect(s.chain.slot).toBe(lastValidBlockHeight + 1);
    expect(s.chain.isBlockhashValid(blockhash)).toBe(false);
    const late = transferWithMemo(s, 2n, 'too late', blockhash);
    expect(() => s.chain.send(late)).toThrow('Transaction simulation failed: Blockhash not found');
    // Without preflight it is dropped, as a cluster drops it: a signature, but never a status.
    const signature = s.chain.send(late, { skipPreflight: true });
    expect(s.chain.getTransaction(signature)).toBeNull();
    expect(tokenAmount(s.chain, s.bobAta)).toBe(1n);
  });

  it('advances slots with time', () => {
    let now = 1_000_000;
    const chain = new Chain({ slotMs: 400, now: () => now });
    const start = chain.slot;
    const first = chain.latestBlockhash.blockhash;
    now += 399;
    chain.tick();
    expect(chain.slot).toBe(start);
    now += 1;
    chain.tick();
    expect(chain.slot).toBe(start + 1);
    now += 4000;
    chain.tick();
    expect(chain.slot).toBe(start + 11);
    expect(chain.latestBlockhash.blockhash).not.toBe(first);
    expect(chain.isBlockhashValid(first)).toBe(true);
  });

  it('travels in time: block times move ahead for good, slots keep their pace, and a restored chain keeps the lead', () => {
    const now = 1_000_000_000;
    const chain = new Chain({ slotMs: 400, now: () => now });
    const slot = chain.slot;
    expect(chain.timeTravel(3 * 86_400)).toBe(now / 1000 + 3 * 86_400);
    expect(chain.slot).toBe(slot + 1);
    expect(() => chain.timeTravel(0)).toThrow(RangeError);
    expect(() => chain.timeTravel(-5)).toThrow(RangeError);
    const restored = Chain.fromState(JSON.parse(JSON.stringify(chain.toState())), { slotMs: 400, now: () => now });
    expect(restored.timeTravel(1)).toBe(now / 1000 + 3 * 86_400 + 1);
  });
});

function unpackOwner(s: Setup, account: PublicKey): string {
  const a = s.chain.getAccount(account.toBase58())!;
  return unpackAccount(account, { data: Buffer.from(a.data), owner: new PublicKey(a.owner), lamports: Number(a.lamports), executable: false }).owner.toBase58();
}

describe('a chain restored from its state', () => {
  it('keeps accounts, history and the blockhash window, and LiteSVM keeps its own programs', () => {
    const s = setup();
    const first = transferWithMemo(s, 3_000_000_000n, 'before restart');
    const signature = s.chain.send(first);
    const pending = transferWithMemo(s, 1_000_000_000n, 'signed before restart');
    const state = JSON.parse(JSON.stringify(s.chain.toState()));
    // Programs and sysvars LiteSVM loads itself are not saved...
    const saved = new Set(state.accounts.map((a: { address: string }) => a.address));
    expect(saved.has(TOKEN_PROGRAM_ID.toBase58())).toBe(false);
    expect(saved.has(MEMO_PROGRAM)).toBe(false);
    expect(saved.has(s.aliceAta.toBase58())).toBe(true);
    // ...and never clobbered by a state file that has them.
    state.accounts.push({ address: TOKEN_PROGRAM_ID.toBase58(), lamports: '1', owner: SystemProgram.programId.toBase58(), executable: false, rentEpoch: '0', data: '' });

    const restored = Chain.fromState(state, { slotMs: 0 });
    expect(restored.genesisHash).toBe(s.chain.genesisHash);
    expect(restored.slot).toBe(s.chain.slot + 1);
    const r: Setup = { ...s, chain: restored };
    expect(tokenAmount(restored, s.aliceAta)).toBe(997_000_000_000n);
    expect(tokenAmount(restored, s.bobAta)).toBe(3_000_000_000n);
    expect(restored.getTransaction(signature)?.meta.logMessages).toContain('Program log: before restart');
    expect(restored.signaturesFor(s.bobAta.toBase58()).map((t) => t.signature)).toContain(signature);
    // A transaction signed before the restart still lands; the token program still runs.
    restored.send(pending);
    restored.send(transferWithMemo(r, 1n, 'after restart'));
    expect(tokenAmount(restored, s.bobAta)).toBe(4_000_000_001n);
    // A replay of one processed before the restart is still refused (and no blockhash repeats).
    expect(restored.latestBlockhash.blockhash).not.toBe(Chain.fromState(state, { slotMs: 0 }).latestBlockhash.blockhash);
    expect(() => restored.send(first)).toThrow('This transaction has already been processed');
    expect(tokenAmount(restored, s.bobAta)).toBe(4_000_000_001n);
  });

  it('keeps a program deployed through the upgradeable loader, with its program-data account', () => {
    const chain = new Chain({ slotMs: 0 });
    const payer = Keypair.generate();
    chain.airdrop(payer.publicKey.toBase58(), 1_000_000_000n);
    // Any valid program will do: the memo program's ELF, under a new id.
    const program = Keypair.generate().publicKey;
    type SvmAddress = Parameters<Chain['svm']['addProgramWithLoader']>[0];
    chain.svm.addProgramWithLoader(program.toBase58() as SvmAddress, chain.getAccount(MEMO_PROGRAM)!.data, 'BPFLoaderUpgradeab1e11111111111111111111111' as SvmAddress);
    const call = (c: Chain, text: string) => {
      const wire = signed(c, payer, [new TransactionInstruction({ programId: program, keys: [], data: Buffer.from(text) })]);
      return c.getTransaction(c.send(wire))!.meta.logMessages;
    };
    expect(call(chain, 'deployed')).toContain('Program log: deployed');
    const restored = Chain.fromState(JSON.parse(JSON.stringify(chain.toState())), { slotMs: 0 });
    expect(call(restored, 'restored')).toContain('Program log: restored');
  });
});
