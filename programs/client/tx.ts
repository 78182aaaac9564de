import { decodeBase58, encodeBase58 } from './base58.ts';
import { compactU16, readCompactU16 } from './compact-u16.ts';

/*
 * Legacy Solana transactions by hand, for the Worker, the SDK and the portal (no web3.js in them):
 * instructions compile to a message (header, account keys, recent blockhash, compiled instructions,
 * arrays prefixed with compact-u16 lengths), which the signers sign with WebCrypto Ed25519. Wire layout:
 *   compact-u16 n, n × 64-byte signatures, message.
 * Account order in the message: the fee payer first, then writable signers, read-only signers,
 * writable non-signers, read-only non-signers; within a group in order of first appearance. An
 * account named by several instructions takes the union of its flags. Program ids are read-only
 * non-signers unless an instruction names them otherwise.
 */

/** One account an instruction touches. */
export interface AccountMeta {
  /** base58 public key. */
  pubkey: string;
  isSigner: boolean;
  isWritable: boolean;
}

export interface Instruction {
  /** base58 program id. */
  programId: string;
  keys: AccountMeta[];
  data: Uint8Array;
}

/** Something that signs a message as `publicKey` (the custody authority, in the Worker). */
export interface TransactionSigner {
  publicKey: string;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/** Most bytes a serialized transaction may have (a packet). */
export const PACKET_DATA_SIZE = 1232;

/** 32 bytes of a base58 public key; throws on anything else (callers validate user input first). */
export function keyBytes(key: string): Uint8Array {
  const bytes = decodeBase58(key);
  if (!bytes || bytes.length !== 32) throw new TypeError(`not a 32-byte base58 key: ${key}`);
  return bytes;
}

/** A compiled legacy message: its bytes and the keys that must sign it, in order. */
export interface CompiledMessage {
  bytes: Uint8Array;
  /** The account keys in message order. */
  accountKeys: string[];
  /** The first numRequiredSignatures account keys: who signs, in signature order. */
  signers: string[];
}

/** An address lookup table as a v0 message uses it: its address and the addresses it holds, in order. */
export interface LookupTable {
  address: string;
  addresses: readonly string[];
}

/** Compiles instructions into a legacy message paid by `payer`. */
export function compileLegacyMessage(o: { payer: string; recentBlockhash: string; instructions: Instruction[] }): CompiledMessage {
  return compileMessage(o, null);
}

/**
 * Compiles instructions into a v0 message paid by `payer` whose non-signer accounts found in `table`
 * are loaded from it (one byte each) rather than listed (32 bytes each). Programs an instruction
 * invokes stay listed, as the runtime requires. Prefix 0x80, the legacy layout, then the lookups:
 * compact-u16 count; per table its address, then the writable and the read-only indexes, each a
 * compact-u16-prefixed array of bytes. The keys an instruction indexes: the listed ones, then the
 * loaded writable, then the loaded read-only.
 */
export function compileV0Message(o: { payer: string; recentBlockhash: string; instructions: Instruction[]; table: LookupTable }): CompiledMessage {
  return compileMessage(o, o.table);
}

function compileMessage(o: { payer: string; recentBlockhash: string; instructions: Instruction[] }, table: LookupTable | null): CompiledMessage {
  const flags = new Map<string, { signer: boolean; writable: boolean; invoked: boolean }>();
  const note = (key: string, signer: boolean, writable: boolean, invoked = false) => {
    const f = flags.get(key);
    if (f) {
      f.signer ||= signer;
      f.writable ||= writable;
      f.invoked ||= invoked;
    } else flags.set(key, { signer, writable, invoked });
  };
  note(o.payer, true, true);
  for (const ix of o.instructions) {
    for (const k of ix.keys) note(k.pubkey, k.isSigner, k.isWritable);
    note(ix.programId, false, false, true);
  }
  const slot = new Map<string, number>();
  table?.addresses.forEach((a, i) => {
    if (i < 256 && !slot.has(a)) slot.set(a, i);
  });
  const loadable = (k: string, f: { signer: boolean; invoked: boolean }) => !f.signer && !f.invoked && slot.has(k);
  const all = [...flags.entries()];
  const group = (signer: boolean, writable: boolean) => all.filter(([k, f]) => k !== o.payer && f.signer === signer && f.writable === writable && !loadable(k, f)).map(([k]) => k);
  const writableSigners = [o.payer, ...group(true, true)];
  const readonlySigners = group(true, false);
  const writableOthers = group(false, true);
  const readonlyOthers = group(false, false);
  const accountKeys = [...writableSigners, ...readonlySigners, ...writableOthers, ...readonlyOthers];
  const loadedWritable = all.filter(([k, f]) => loadable(k, f) && f.writable).map(([k]) => k);
  const loadedReadonly = all.filter(([k, f]) => loadable(k, f) && !f.writable).map(([k]) => k);
  const indexed = [...accountKeys, ...loadedWritable, ...loadedReadonly];
  if (indexed.length > 256) throw new RangeError('a message indexes at most 256 accounts');
  const index = new Map(indexed.map((k, i) => [k, i]));

  const out: number[] = table ? [0x80] : [];
  out.push(writableSigners.length + readonlySigners.length, readonlySigners.length, readonlyOthers.length);
  out.push(...compactU16(accountKeys.length));
  for (const k of accountKeys) out.push(...keyBytes(k));
  out.push(...keyBytes(o.recentBlockhash));
  out.push(...compactU16(o.instructions.length));
  for (const ix of o.instructions) {
    out.push(index.get(ix.programId)!);
    out.push(...compactU16(ix.keys.length));
    for (const k of ix.keys) out.push(index.get(k.pubkey)!);
    out.push(...compactU16(ix.data.length));
    for (const b of ix.data) out.push(b);
  }
  if (table) {
    const loaded = loadedWritable.length + loadedReadonly.length;
    out.push(...compactU16(loaded > 0 ? 1 : 0));
    if (loaded > 0) {
      out.push(...keyBytes(table.address));
      for (const keys of [loadedWritable, loadedReadonly]) {
        out.push(...compactU16(keys.length));
        for (const k of keys) out.push(slot.get(k)!);
      }
    }
  }
  return { bytes: Uint8Array.from(out), accountKeys, signers: [...writableSigners, ...readonlySigners] };
}

/** The wire transaction: compact-u16 count, the signatures (in the message's signer order), then the message. */
export function serializeTransaction(signatures: Uint8Array[], message: Uint8Array): Uint8Array {
  const head = compactU16(signatures.length);
  const out = new Uint8Array(head.length + 64 * signatures.length + message.length);
  out.set(head, 0);
  signatures.forEach((s, i) => {
    if (s.length !== 64) throw new RangeError('an ed25519 signature is 64 bytes');
    out.set(s, head.length + 64 * i);
  });
  out.set(message, head.length + 64 * signatures.length);
  return out;
}

/**
 * Compiles (legacy, or v0 with `table`), signs and serializes. Every key the message requires must be among `signers`, unless
 * `partial` (then a missing signer's slot stays zeros, for another party to fill: addSignature).
 * Answers the transaction's signature (the fee payer's, base58: how the chain names it) and its bytes.
 */
export async function signTransaction(o: {
  payer: string;
  recentBlockhash: string;
  instructions: Instruction[];
  signers: TransactionSigner[];
  partial?: boolean;
  /** Compile a v0 message loading accounts from this lookup table (compileV0Message). */
  table?: LookupTable;
}): Promise<{ signature: string; bytes: Uint8Array; message: CompiledMessage }> {
  const message = o.table ? compileV0Message({ ...o, table: o.table }) : compileLegacyMessage(o);
  const signatures: Uint8Array[] = [];
  for (const key of message.signers) {
    const signer = o.signers.find((s) => s.publicKey === key);
    if (!signer && o.partial) {
      signatures.push(new Uint8Array(64));
      continue;
    }
    if (!signer) throw new Error(`missing signer ${key}`);
    const signature = await signer.sign(message.bytes);
    if (signature.length !== 64) throw new Error(`signer ${key} did not return a 64-byte signature`);
    signatures.push(signature);
  }
  const bytes = serializeTransaction(signatures, message.bytes);
  if (bytes.length > PACKET_DATA_SIZE) throw new RangeError(`the transaction is ${bytes.length} bytes; at most ${PACKET_DATA_SIZE} fit a packet`);
  return { signature: encodeBase58(signatures[0]!), bytes, message };
}

/**
 * Fills `signer`'s slot in a wire transaction signed by others (signTransaction's `partial`):
 * the slot is the signer's position among the message's first numRequiredSignatures account keys.
 * Throws when the signer is not one the message requires.
 */
export async function addSignature(wire: Uint8Array, signer: TransactionSigner): Promise<Uint8Array> {
  const count = readCompactU16(wire, 0);
  const start = count.size + 64 * count.value;
  const message = wire.subarray(start);
  const header = message[0]! & 0x80 ? 1 : 0; // a v0 message's prefix
  const required = message[header]!;
  const keys = readCompactU16(message, header + 3);
  const at = header + 3 + keys.size;
  let slot = -1;
  for (let i = 0; i < Math.min(required, keys.value); i++) {
    if (encodeBase58(message.subarray(at + 32 * i, at + 32 * i + 32)) === signer.publicKey) slot = i;
  }
  if (slot < 0 || slot >= count.value) throw new Error(`${signer.publicKey} is not a signer this transaction requires`);
  const signature = await signer.sign(message);
  const out = wire.slice();
  out.set(signature, count.size + 64 * slot);
  return out;
}

const PKCS8_ED25519_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

/**
 * A signer from a Solana secret key (64 bytes: seed then public key, as solana-keygen writes it, or
 * base58 of those bytes). The seed is imported into WebCrypto (PKCS8, not extractable) and the
 * public key it yields must match the key's second half.
 */
export async function signerFromSecretKey(secret: Uint8Array | string): Promise<TransactionSigner> {
  const bytes = typeof secret === 'string' ? decodeBase58(secret.trim()) : secret;
  if (!bytes || bytes.length !== 64) throw new TypeError('a Solana secret key is 64 bytes (seed and public key), base58 or raw');
  const pkcs8 = new Uint8Array(48);
  pkcs8.set(PKCS8_ED25519_PREFIX, 0);
  pkcs8.set(bytes.subarray(0, 32), 16);
  const exportable = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, ['sign']);
  const jwk = (await crypto.subtle.exportKey('jwk', exportable)) as JsonWebKey;
  const derived = encodeBase58(base64UrlBytes(jwk.x ?? ''));
  const publicKey = encodeBase58(bytes.subarray(32, 64));
  if (derived !== publicKey) throw new TypeError('the secret key\u2019s public half does not match its seed');
  const key = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, false, ['sign']);
  return { publicKey, sign: async (message) => new Uint8Array(await crypto.subtle.sign('Ed25519', key, new Uint8Array(message))) };
}

function base64UrlBytes(text: string): Uint8Array {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}
