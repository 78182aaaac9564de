import { findProgramAddress, SYSTEM_PROGRAM } from './address.ts';
import { encodeBase58 } from './base58.ts';
import { keyBytes, type Instruction, type LookupTable } from './tx.ts';

/*
 * Address lookup tables (the native program AddressLookupTab1e…): the settlement authority's table
 * lets a v0 settle name each account by a one-byte index (compileV0Message). Instructions by hand:
 *   create: u32 0, u64 recent slot, u8 bump; accounts table (w), authority (s), payer (s, w), system;
 *   extend: u32 2, u64 count, count × 32-byte addresses; accounts table (w), authority (s), payer (s, w), system.
 * The table (PDA of the authority and the recent slot) holds 56 bytes of metadata (u32 kind, u64
 * deactivation slot, u64 last extended slot, u8 its start index, u8 authority option, 32-byte
 * authority, 2 bytes padding), then the addresses. An address added in slot s is usable from s + 1.
 */

export const ADDRESS_LOOKUP_TABLE_PROGRAM = 'AddressLookupTab1e1111111111111111111111111';
const META_SIZE = 56;
/** Addresses one extend adds at most: what fits a legacy transaction with its signature and accounts. */
export const EXTEND_MAX_ADDRESSES = 20;
/** Addresses a table holds at most (one-byte indexes). */
export const LOOKUP_TABLE_MAX_ADDRESSES = 256;

const u64le = (n: bigint) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n, true);
  return b;
};
const writers = (table: string, authority: string, payer: string) => [
  { pubkey: table, isSigner: false, isWritable: true },
  { pubkey: authority, isSigner: true, isWritable: false },
  { pubkey: payer, isSigner: true, isWritable: true },
  { pubkey: SYSTEM_PROGRAM, isSigner: false, isWritable: false },
];

/** A new table's address: PDA of its authority and a recent slot. */
export async function lookupTableAddress(authority: string, recentSlot: bigint): Promise<{ address: string; bump: number }> {
  return findProgramAddress([keyBytes(authority), u64le(recentSlot)], ADDRESS_LOOKUP_TABLE_PROGRAM);
}

export async function createLookupTable(o: { authority: string; payer: string; recentSlot: bigint }): Promise<{ address: string; instruction: Instruction }> {
  const { address, bump } = await lookupTableAddress(o.authority, o.recentSlot);
  const data = new Uint8Array(4 + 8 + 1);
  data.set(u64le(o.recentSlot), 4);
  data[12] = bump;
  return { address, instruction: { programId: ADDRESS_LOOKUP_TABLE_PROGRAM, keys: writers(address, o.authority, o.payer), data } };
}

export function extendLookupTable(o: { table: string; authority: string; payer: string; addresses: readonly string[] }): Instruction {
  if (o.addresses.length === 0 || o.addresses.length > EXTEND_MAX_ADDRESSES) throw new RangeError(`an extend adds 1 to ${EXTEND_MAX_ADDRESSES} addresses`);
  const data = new Uint8Array(4 + 8 + 32 * o.addresses.length);
  data[0] = 2;
  data.set(u64le(BigInt(o.addresses.length)), 4);
  o.addresses.forEach((a, i) => data.set(keyBytes(a), 12 + 32 * i));
  return { programId: ADDRESS_LOOKUP_TABLE_PROGRAM, keys: writers(o.table, o.authority, o.payer), data };
}

export interface LookupTableState extends LookupTable {
  /** null once frozen. */
  authority: string | null;
  /** 2^64 − 1 while active. */
  deactivationSlot: bigint;
  lastExtendedSlot: bigint;
}

/** A table account's data; null when it is not one. */
export function parseLookupTable(address: string, data: Uint8Array): LookupTableState | null {
  if (data.length < META_SIZE || (data.length - META_SIZE) % 32 !== 0) return null;
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (v.getUint32(0, true) !== 1) return null;
  const addresses: string[] = [];
  for (let at = META_SIZE; at < data.length; at += 32) addresses.push(encodeBase58(data.subarray(at, at + 32)));
  return {
    address,
    addresses,
    authority: data[21] === 1 ? encodeBase58(data.subarray(22, 54)) : null,
    deactivationSlot: v.getBigUint64(4, true),
    lastExtendedSlot: v.getBigUint64(12, true),
  };
}
