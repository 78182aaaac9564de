import { AddressLookupTableAccount, AddressLookupTableProgram, PublicKey, TransactionMessage, VersionedMessage } from '@solana/web3.js';
import { describe, expect, it } from 'vitest';
import { chainWorld, DECIMALS } from '../testing/chain-world.ts';
import { transferChecked } from './mint.ts';
import { createLookupTable, extendLookupTable, parseLookupTable } from './lookup-table.ts';
import { addSignature, compileV0Message, signTransaction, type Instruction } from './tx.ts';

const web3Keys = (keys: { pubkey: PublicKey; isSigner: boolean; isWritable: boolean }[]) => keys.map((k) => ({ pubkey: k.pubkey.toBase58(), isSigner: k.isSigner, isWritable: k.isWritable }));

describe('address lookup tables and v0 messages', () => {
  it('builds create and extend as web3.js does', async () => {
    const authority = PublicKey.unique().toBase58();
    const payer = PublicKey.unique().toBase58();
    const addresses = Array.from({ length: 3 }, () => PublicKey.unique().toBase58());
    const ours = await createLookupTable({ authority, payer, recentSlot: 4_242n });
    const [theirs, table] = AddressLookupTableProgram.createLookupTable({ authority: new PublicKey(authority), payer: new PublicKey(payer), recentSlot: 4_242 });
    expect(ours.address).toBe(table.toBase58());
    expect(ours.instruction.keys).toEqual(web3Keys(theirs.keys));
    expect([...ours.instruction.data]).toEqual([...theirs.data]);
    const extend = extendLookupTable({ table: ours.address, authority, payer, addresses });
    const theirExtend = AddressLookupTableProgram.extendLookupTable({ lookupTable: table, authority: new PublicKey(authority), payer: new PublicKey(payer), addresses: addresses.map((a) => new PublicKey(a)) });
    expect(extend.keys).toEqual(web3Keys(theirExtend.keys));
    expect([...extend.data]).toEqual([...theirExtend.data]);
    expect(() => extendLookupTable({ table: ours.address, authority, payer, addresses: [] })).toThrow(RangeError);
  });

  it('lands a v0 transaction whose accounts come from a table, as web3.js reads it, and fills a missing signature', async () => {
    const w = await chainWorld();
    const from = await w.wallet(1_000n);
    const to = await Promise.all(Array.from({ length: 6 }, () => w.wallet()));
    const { address, instruction } = await createLookupTable({ authority: w.admin.publicKey, payer: w.admin.publicKey, recentSlot: BigInt(w.chain.slot) });
    await w.send([instruction], [w.admin]);
    await w.send([extendLookupTable({ table: address, authority: w.admin.publicKey, payer: w.admin.publicKey, addresses: [w.mint.publicKey, ...to.map((t) => t.ata)] })], [w.admin]);
    const state = parseLookupTable(address, w.chain.getAccount(address)!.data)!;
    const web3State = AddressLookupTableAccount.deserialize(w.chain.getAccount(address)!.data);
    expect(state.addresses).toEqual(web3State.addresses.map((a) => a.toBase58()));
    expect(state.authority).toBe(w.admin.publicKey);
    expect(state.deactivationSlot).toBe(2n ** 64n - 1n);
    expect(parseLookupTable(address, new Uint8Array(10))).toBeNull();

    const instructions: Instruction[] = to.map((t, i) => transferChecked({ source: from.ata, mint: w.mint.publicKey, destination: t.ata, owner: from.key, amount: BigInt(10 + i), decimals: DECIMALS }));
    const table = { address, addresses: state.addresses };
    const message = compileV0Message({ payer: w.admin.publicKey, recentBlockhash: w.chain.latestBlockhash.blockhash, instructions, table });
    // web3.js resolves our message back to the same instructions.
    const decompiled = TransactionMessage.decompile(VersionedMessage.deserialize(message.bytes), { addressLookupTableAccounts: [new AddressLookupTableAccount({ key: new PublicKey(address), state: web3State })] });
    expect(decompiled.instructions.map((ix) => ({ programId: ix.programId.toBase58(), keys: web3Keys(ix.keys), data: [...ix.data] }))).toEqual(instructions.map((ix) => ({ ...ix, data: [...ix.data] })));
    expect(message.accountKeys).toHaveLength(4); // payer, owner, source, token program: the rest by index
    const legacy = await signTransaction({ payer: w.admin.publicKey, recentBlockhash: w.chain.latestBlockhash.blockhash, instructions, signers: [w.admin, from.signer] });
    const partial = await signTransaction({ payer: w.admin.publicKey, recentBlockhash: w.chain.latestBlockhash.blockhash, instructions, signers: [w.admin], partial: true, table });
    expect(partial.bytes.length).toBeLessThan(legacy.bytes.length - 6 * 30);
    w.chain.send(await addSignature(partial.bytes, from.signer));
    expect(to.map((t) => w.balance(t.ata))).toEqual([10n, 11n, 12n, 13n, 14n, 15n]);
  });
});
