// Solana's transaction wire format (legacy and v0): a strict parser that also applies the runtime's
// sanitize rules.
//
// LiteSVM 1.5.0 aborts the whole process (a Rust panic) on bytes it cannot deserialize, so nothing
// reaches it that this parser has not accepted byte for byte.

import { encodeBase58 } from '../client/base58.ts';
import { readCompactU16 } from '../client/compact-u16.ts';

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
    try {
      const { value, size } = readCompactU16(this.bytes, this.at);
      this.at += size;
      return value;
    } catch (err) {
      throw err instanceof RangeError ? new WireError(err.message) : err;
    }
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
