// Solana's transaction wire format (legacy and v0): a strict parser that also applies the runtime's
// sanitize rules, and a serializer for the simple legacy messages the chain signs itself.
//
// LiteSVM 1.5.0 aborts the whole process (a Rust panic) on bytes it cannot deserialize, so nothing
// reaches it that this parser has not accepted byte for byte.

import { encodeBase58 } from './base58.ts';

/** The largest transaction the network carries (PACKET_DATA_SIZE). */
export const MAX_TRANSACTION_BYTES = 1232;

export interface MessageHeader {
  numRequiredSignatures: number;
  numReadonlySignedAccounts: number;
  numReadonlyUnsignedAccounts: number;
}

export interface CompiledInstruction {
  programIdIndex: number;
  accounts: number[];
  data: Uint8Array;
}

export interface AddressTableLookup {
  accountKey: string;
  writableIndexes: number[];
  readonlyIndexes: number[];
}

export interface ParsedMessage {
  version: 'legacy' | 0;
  header: MessageHeader;
  /** The message's own keys, base58. */
  staticKeys: string[];
  /** The same keys as bytes (views into the parsed buffer). */
  staticKeyBytes: Uint8Array[];
  recentBlockhash: string;
  instructions: CompiledInstruction[];
  addressTableLookups: AddressTableLookup[];
}

export interface ParsedTransaction {
  /** Base58 signatures; the first is the transaction's id. */
  signatures: string[];
  message: ParsedMessage;
  /** The serialized message (what the signatures sign). */
  messageBytes: Uint8Array;
}

export class WireError extends Error {}

class Reader {
  at = 0;
  constructor(readonly bytes: Uint8Array) {}

  u8(): number {
    if (this.at >= this.bytes.length) throw new WireError('unexpected end of input');
    return this.bytes[this.at++]!;
  }

  take(n: number): Uint8Array {
    if (this.at + n > this.bytes.length) throw new WireError('unexpected end of input');
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  /** A compact-u16 length, canonical encoding only (as the runtime's decoder requires). */
  shortVec(): number {
    let value = 0;
    for (let i = 0; i < 3; i++) {
      const byte = this.u8();
      value |= (byte & 0x7f) << (7 * i);
      if ((byte & 0x80) === 0) {
        if (byte === 0 && i > 0) throw new WireError('non-canonical compact-u16');
        if (value > 0xffff) throw new WireError('compact-u16 overflow');
        return value;
      }
      if (i === 2) throw new WireError('compact-u16 overflow');
    }
    throw new WireError('compact-u16 overflow');
  }

  address(): string {
    return encodeBase58(this.take(32));
  }

  indexes(): number[] {
    const n = this.shortVec();
    return Array.from(this.take(n));
  }
}

function readMessage(r: Reader): ParsedMessage {
  const first = r.u8();
  let version: 'legacy' | 0 = 'legacy';
  let numRequiredSignatures = first;
  if (first & 0x80) {
    const v = first & 0x7f;
    if (v !== 0) throw new WireError(`unsupported transaction version ${v}`);
    version = 0;
    numRequiredSignatures = r.u8();
  }
  const header: MessageHeader = {
    numRequiredSignatures,
    numReadonlySignedAccounts: r.u8(),
    numReadonlyUnsignedAccounts: r.u8(),
  };
  const keyCount = r.shortVec();
  const staticKeys: string[] = [];
  const staticKeyBytes: Uint8Array[] = [];
  for (let i = 0; i < keyCount; i++) {
    const key = r.take(32);
    staticKeyBytes.push(key);
    staticKeys.push(encodeBase58(key));
  }
  const recentBlockhash = r.address();
  const ixCount = r.shortVec();
  const instructions: CompiledInstruction[] = [];
  for (let i = 0; i < ixCount; i++) {
    const programIdIndex = r.u8();
    const accounts = r.indexes();
    const data = r.take(r.shortVec());
    instructions.push({ programIdIndex, accounts, data });
  }
  const addressTableLookups: AddressTableLookup[] = [];
  if (version === 0) {
    const lookupCount = r.shortVec();
    for (let i = 0; i < lookupCount; i++) {
      addressTableLookups.push({ accountKey: r.address(), writableIndexes: r.indexes(), readonlyIndexes: r.indexes() });
    }
  }
  return { version, header, staticKeys, staticKeyBytes, recentBlockhash, instructions, addressTableLookups };
}

/** The runtime's sanitize rules for a message (Message::sanitize, v0::Message::sanitize). */
function sanitizeMessage(m: ParsedMessage): void {
  const fail = () => {
    throw new WireError('Transaction failed to sanitize accounts offsets correctly');
  };
  const h = m.header;
  const numStatic = m.staticKeys.length;
  if (h.numRequiredSignatures + h.numReadonlyUnsignedAccounts > numStatic) fail();
  if (h.numReadonlySignedAccounts >= h.numRequiredSignatures) fail();
  let numDynamic = 0;
  for (const l of m.addressTableLookups) {
    if (l.writableIndexes.length === 0 && l.readonlyIndexes.length === 0) fail();
    numDynamic += l.writableIndexes.length + l.readonlyIndexes.length;
  }
  const total = numStatic + numDynamic;
  if (total > 256) fail();
  for (const ix of m.instructions) {
    if (ix.programIdIndex === 0 || ix.programIdIndex >= numStatic) fail();
    for (const a of ix.accounts) if (a >= total) fail();
  }
}

/** Parses and sanitizes a whole wire transaction; throws WireError with the reason. */
export function parseTransaction(bytes: Uint8Array): ParsedTransaction {
  if (bytes.length > MAX_TRANSACTION_BYTES) throw new WireError(`transaction too large: ${bytes.length} bytes (max: ${MAX_TRANSACTION_BYTES})`);
  const r = new Reader(bytes);
  const sigCount = r.shortVec();
  const signatures: string[] = [];
  for (let i = 0; i < sigCount; i++) signatures.push(encodeBase58(r.take(64)));
  const start = r.at;
  const message = readMessage(r);
  if (r.at !== bytes.length) throw new WireError(`${bytes.length - r.at} trailing bytes`);
  sanitizeMessage(message);
  if (sigCount !== message.header.numRequiredSignatures || sigCount > message.staticKeys.length)
    throw new WireError('Transaction failed to sanitize accounts offsets correctly');
  return { signatures, message, messageBytes: bytes.subarray(start) };
}

/** Parses and sanitizes a serialized message on its own (as getFeeForMessage receives it). */
export function parseMessage(bytes: Uint8Array): ParsedMessage {
  if (bytes.length > MAX_TRANSACTION_BYTES) throw new WireError('message too large');
  const r = new Reader(bytes);
  const message = readMessage(r);
  if (r.at !== bytes.length) throw new WireError(`${bytes.length - r.at} trailing bytes`);
  sanitizeMessage(message);
  return message;
}

/** Whether the account at `index` of the message's full key list (static, then loaded) is writable. */
export function isWritableIndex(m: ParsedMessage, index: number, numWritableLoaded: number): boolean {
  const h = m.header;
  const numStatic = m.staticKeys.length;
  if (index < h.numRequiredSignatures) return index < h.numRequiredSignatures - h.numReadonlySignedAccounts;
  if (index < numStatic) return index < numStatic - h.numReadonlyUnsignedAccounts;
  return index - numStatic < numWritableLoaded;
}

function shortVec(n: number): number[] {
  const out: number[] = [];
  let rest = n;
  for (;;) {
    const byte = rest & 0x7f;
    rest >>= 7;
    if (rest === 0) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/** Serializes a legacy message whose keys are already ordered and deduplicated. */
export function serializeLegacyMessage(m: { header: MessageHeader; keys: Uint8Array[]; recentBlockhash: Uint8Array; instructions: CompiledInstruction[] }): Uint8Array {
  const parts: number[] = [m.header.numRequiredSignatures, m.header.numReadonlySignedAccounts, m.header.numReadonlyUnsignedAccounts, ...shortVec(m.keys.length)];
  for (const k of m.keys) parts.push(...k);
  parts.push(...m.recentBlockhash, ...shortVec(m.instructions.length));
  for (const ix of m.instructions) parts.push(ix.programIdIndex, ...shortVec(ix.accounts.length), ...ix.accounts, ...shortVec(ix.data.length), ...ix.data);
  return Uint8Array.from(parts);
}

/** A wire transaction from its signatures and message bytes. */
export function serializeTransaction(signatures: Uint8Array[], messageBytes: Uint8Array): Uint8Array {
  const head = shortVec(signatures.length);
  const out = new Uint8Array(head.length + signatures.length * 64 + messageBytes.length);
  out.set(head, 0);
  signatures.forEach((s, i) => out.set(s, head.length + i * 64));
  out.set(messageBytes, head.length + signatures.length * 64);
  return out;
}
