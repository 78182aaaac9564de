import { Keypair, PublicKey, SystemProgram, Transaction, TransactionMessage, VersionedTransaction } from '@solana/web3.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBase58, encodeBase58 } from '../client/base58.ts';
import { Chain } from './chain.ts';
import { RpcError } from './errors.ts';
import { parseTransaction, WireError } from './wire.ts';

const payer = Keypair.generate();
const to = Keypair.generate().publicKey;
const blockhash = encodeBase58(new Uint8Array(32).fill(7));

function legacyTransfer(lamports = 1000): Uint8Array {
  const tx = new Transaction({ feePayer: payer.publicKey, recentBlockhash: blockhash }).add(SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: to, lamports }));
  tx.sign(payer);
  return tx.serialize();
}

describe('base58', () => {
  it('matches web3.js on addresses and round-trips any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        expect(encodeBase58(bytes)).toBe(new PublicKey(bytes).toBase58());
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        expect(Buffer.from(decodeBase58(encodeBase58(bytes))!)).toEqual(Buffer.from(bytes));
      }),
    );
    expect(decodeBase58('0OIl')).toBeNull();
  });
});

describe('a transaction on the wire', () => {
  it('parses a legacy transaction as web3.js compiled it', () => {
    const wire = legacyTransfer();
    const parsed = parseTransaction(wire);
    const reference = Transaction.from(wire);
    expect(parsed.message.version).toBe('legacy');
    expect(parsed.signatures).toEqual([encodeBase58(reference.signature!)]);
    expect(parsed.message.staticKeys).toEqual(reference.compileMessage().accountKeys.map((k) => k.toBase58()));
    expect(parsed.message.header).toEqual(reference.compileMessage().header);
    expect(parsed.message.recentBlockhash).toBe(blockhash);
    expect(parsed.message.instructions).toHaveLength(1);
    expect(Buffer.from(parsed.messageBytes)).toEqual(reference.serializeMessage());
  });

  it('parses a v0 transaction with an address table lookup', () => {
    const table = Keypair.generate().publicKey;
    const message = new TransactionMessage({ payerKey: payer.publicKey, recentBlockhash: blockhash, instructions: [SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: to, lamports: 5 })] }).compileToV0Message([
      { key: table, state: { deactivationSlot: 2n ** 64n - 1n, lastExtendedSlot: 0, lastExtendedSlotStartIndex: 0, addresses: [to] }, isActive: () => true },
    ]);
    const tx = new VersionedTransaction(message);
    tx.sign([payer]);
    const parsed = parseTransaction(tx.serialize());
    expect(parsed.message.version).toBe(0);
    expect(parsed.message.addressTableLookups).toEqual([{ accountKey: table.toBase58(), writableIndexes: [0], readonlyIndexes: [] }]);
    expect(parsed.message.staticKeys).toEqual([payer.publicKey.toBase58(), SystemProgram.programId.toBase58()]);
  });

  it('refuses what the runtime would not deserialize or sanitize', () => {
    const wire = legacyTransfer();
    const cases: [string, Uint8Array][] = [
      ['truncated', wire.subarray(0, wire.length - 1)],
      ['trailing bytes', Uint8Array.from([...wire, 0])],
      ['non-canonical length', Uint8Array.from([0x81, 0x00, ...wire.subarray(1)])],
      ['too large', new Uint8Array(1233)],
      ['two signatures for one signer', Uint8Array.from([2, ...wire.subarray(1, 65), ...wire.subarray(1)])],
    ];
    const version1 = Uint8Array.from(wire);
    version1[65] = 0x81;
    cases.push(['version 1', version1]);
    const payerAsProgram = Uint8Array.from(wire);
    payerAsProgram[wire.length - 1 - 12 - 1 - 2 - 1] = 0; // the instruction's program index → the fee payer
    cases.push(['program index 0', payerAsProgram]);
    for (const [name, bytes] of cases) expect(() => parseTransaction(bytes), name).toThrow(WireError);
  });

  it('never lets bytes the parser refuses reach LiteSVM (which aborts the process on them)', () => {
    const chain = new Chain({ slotMs: 0 });
    chain.airdrop(payer.publicKey.toBase58(), 10_000_000_000n);
    const valid = legacyTransfer();
    const outcome = (bytes: Uint8Array) => {
      try {
        return typeof chain.send(bytes, { skipPreflight: true });
      } catch (err) {
        expect(err).toBeInstanceOf(RpcError);
        return 'refused';
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 1300 }), (bytes) => void outcome(bytes)), { numRuns: 300 });
    const mutations = fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 });
    fc.assert(
      fc.property(mutations, (edits) => {
        const bytes = Uint8Array.from(valid);
        for (const [at, value] of edits) bytes[at] = value;
        outcome(bytes);
      }),
      { numRuns: 300 },
    );
    // Still serving: a valid transfer lands.
    const tx = new Transaction({ feePayer: payer.publicKey, recentBlockhash: chain.latestBlockhash.blockhash }).add(SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: to, lamports: 1_000_000 }));
    tx.sign(payer);
    const signature = chain.send(tx.serialize());
    expect(chain.getTransaction(signature)?.meta.err).toBeNull();
  });
});
