// jsonParsed instructions, as the RPC writes them for the programs a token transfer touches: System,
// SPL Token (and Token-2022's base instructions), Associated Token Account and Memo. Anything else,
// or data these parsers do not recognise, is given partially decoded ({programId, accounts, data}).

import { ASSOCIATED_TOKEN_PROGRAM, MEMO_PROGRAM, SYSTEM_PROGRAM, TOKEN_PROGRAM } from '../client/address.ts';
import { encodeBase58 } from '../client/base58.ts';
import { TOKEN_2022_PROGRAM, tokenProgramName, uiTokenAmount } from './token.ts';

export const MEMO_V1_PROGRAM = 'Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo';

export const isMemoProgram = (id: string): boolean => id === MEMO_PROGRAM || id === MEMO_V1_PROGRAM;

class Unparsable extends Error {}

class Data {
  at = 0;
  constructor(readonly bytes: Uint8Array) {}
  need(n: number): void {
    if (this.at + n > this.bytes.length) throw new Unparsable();
  }
  u8(): number {
    this.need(1);
    return this.bytes[this.at++]!;
  }
  u32(): number {
    this.need(4);
    const v = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.at, 4).getUint32(0, true);
    this.at += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.at, 8).getBigUint64(0, true);
    this.at += 8;
    return v;
  }
  key(): string {
    this.need(32);
    const v = encodeBase58(this.bytes.subarray(this.at, this.at + 32));
    this.at += 32;
    return v;
  }
  /** A token-program COption<Pubkey> in instruction data: one tag byte, then the key if present. */
  optionKey(): string | null {
    const tag = this.u8();
    if (tag === 0) return null;
    return this.key();
  }
}

type Info = Record<string, unknown>;
type Parsed = { type: string; info: Info };

function accountsOf(accounts: string[]) {
  return (i: number): string => {
    const a = accounts[i];
    if (a === undefined) throw new Unparsable();
    return a;
  };
}

/** The authority at `index`, or a multisig authority and its signers when more accounts follow. */
function authority(info: Info, name: string, accounts: string[], index: number): void {
  if (accounts[index] === undefined) throw new Unparsable();
  if (accounts.length > index + 1) {
    info[`multisig${name[0]!.toUpperCase()}${name.slice(1)}`] = accounts[index];
    info.signers = accounts.slice(index + 1);
  } else info[name] = accounts[index];
}

function parseSystem(data: Uint8Array, accounts: string[]): Parsed {
  const d = new Data(data);
  const a = accountsOf(accounts);
  switch (d.u32()) {
    case 0: {
      const lamports = d.u64();
      const space = d.u64();
      return { type: 'createAccount', info: { source: a(0), newAccount: a(1), lamports: Number(lamports), space: Number(space), owner: d.key() } };
    }
    case 1:
      return { type: 'assign', info: { account: a(0), owner: d.key() } };
    case 2:
      return { type: 'transfer', info: { source: a(0), destination: a(1), lamports: Number(d.u64()) } };
    case 4:
      return { type: 'advanceNonce', info: { nonceAccount: a(0), recentBlockhashesSysvar: a(1), nonceAuthority: a(2) } };
    case 5:
      return { type: 'withdrawFromNonce', info: { nonceAccount: a(0), destination: a(1), recentBlockhashesSysvar: a(2), rentSysvar: a(3), nonceAuthority: a(4), lamports: Number(d.u64()) } };
    case 6:
      return { type: 'initializeNonce', info: { nonceAccount: a(0), recentBlockhashesSysvar: a(1), rentSysvar: a(2), nonceAuthority: d.key() } };
    case 8:
      return { type: 'allocate', info: { account: a(0), space: Number(d.u64()) } };
    default:
      throw new Unparsable();
  }
}

const AUTHORITY_TYPES = ['mintTokens', 'freezeAccount', 'accountOwner', 'closeAccount'];

function parseToken(data: Uint8Array, accounts: string[]): Parsed {
  const d = new Data(data);
  const a = accountsOf(accounts);
  const tag = d.u8();
  const info: Info = {};
  switch (tag) {
    case 0:
    case 20: {
      const decimals = d.u8();
      const mintAuthority = d.key();
      const freezeAuthority = d.optionKey();
      Object.assign(info, { mint: a(0), decimals, mintAuthority });
      if (freezeAuthority) info.freezeAuthority = freezeAuthority;
      if (tag === 0) info.rentSysvar = a(1);
      return { type: tag === 0 ? 'initializeMint' : 'initializeMint2', info };
    }
    case 1:
      return { type: 'initializeAccount', info: { account: a(0), mint: a(1), owner: a(2), rentSysvar: a(3) } };
    case 16:
      return { type: 'initializeAccount2', info: { account: a(0), mint: a(1), rentSysvar: a(2), owner: d.key() } };
    case 18:
      return { type: 'initializeAccount3', info: { account: a(0), mint: a(1), owner: d.key() } };
    case 3:
      Object.assign(info, { source: a(0), destination: a(1), amount: d.u64().toString() });
      authority(info, 'authority', accounts, 2);
      return { type: 'transfer', info };
    case 4:
      Object.assign(info, { source: a(0), delegate: a(1), amount: d.u64().toString() });
      authority(info, 'owner', accounts, 2);
      return { type: 'approve', info };
    case 5:
      Object.assign(info, { source: a(0) });
      authority(info, 'owner', accounts, 1);
      return { type: 'revoke', info };
    case 6: {
      const kind = AUTHORITY_TYPES[d.u8()];
      if (!kind) throw new Unparsable();
      const newAuthority = d.optionKey();
      info[kind === 'mintTokens' || kind === 'freezeAccount' ? 'mint' : 'account'] = a(0);
      Object.assign(info, { authorityType: kind, newAuthority });
      authority(info, 'authority', accounts, 1);
      return { type: 'setAuthority', info };
    }
    case 7:
      Object.assign(info, { mint: a(0), account: a(1), amount: d.u64().toString() });
      authority(info, 'mintAuthority', accounts, 2);
      return { type: 'mintTo', info };
    case 8:
      Object.assign(info, { account: a(0), mint: a(1), amount: d.u64().toString() });
      authority(info, 'authority', accounts, 2);
      return { type: 'burn', info };
    case 9:
      Object.assign(info, { account: a(0), destination: a(1) });
      authority(info, 'owner', accounts, 2);
      return { type: 'closeAccount', info };
    case 10:
    case 11:
      Object.assign(info, { account: a(0), mint: a(1) });
      authority(info, 'freezeAuthority', accounts, 2);
      return { type: tag === 10 ? 'freezeAccount' : 'thawAccount', info };
    case 12: {
      const amount = d.u64();
      Object.assign(info, { source: a(0), mint: a(1), destination: a(2), tokenAmount: uiTokenAmount(amount, d.u8()) });
      authority(info, 'authority', accounts, 3);
      return { type: 'transferChecked', info };
    }
    case 13: {
      const amount = d.u64();
      Object.assign(info, { source: a(0), mint: a(1), delegate: a(2), tokenAmount: uiTokenAmount(amount, d.u8()) });
      authority(info, 'owner', accounts, 3);
      return { type: 'approveChecked', info };
    }
    case 14: {
      const amount = d.u64();
      Object.assign(info, { mint: a(0), account: a(1), tokenAmount: uiTokenAmount(amount, d.u8()) });
      authority(info, 'mintAuthority', accounts, 2);
      return { type: 'mintToChecked', info };
    }
    case 15: {
      const amount = d.u64();
      Object.assign(info, { account: a(0), mint: a(1), tokenAmount: uiTokenAmount(amount, d.u8()) });
      authority(info, 'authority', accounts, 2);
      return { type: 'burnChecked', info };
    }
    case 17:
      return { type: 'syncNative', info: { account: a(0) } };
    case 21:
      return { type: 'getAccountDataSize', info: { mint: a(0) } };
    case 22:
      return { type: 'initializeImmutableOwner', info: { account: a(0) } };
    default:
      throw new Unparsable();
  }
}

function parseAssociatedToken(data: Uint8Array, accounts: string[]): Parsed {
  const a = accountsOf(accounts);
  const kind = data.length === 0 ? 0 : data.length === 1 ? data[0] : -1;
  if (kind !== 0 && kind !== 1) throw new Unparsable();
  return {
    type: kind === 0 ? 'create' : 'createIdempotent',
    info: { source: a(0), account: a(1), wallet: a(2), mint: a(3), systemProgram: a(4), tokenProgram: a(5) },
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** An instruction in jsonParsed form. */
export function parseInstruction(programId: string, accounts: string[], data: Uint8Array, stackHeight: number | null): Record<string, unknown> {
  try {
    if (isMemoProgram(programId)) return { parsed: utf8.decode(data), program: 'spl-memo', programId, stackHeight };
    if (programId === SYSTEM_PROGRAM) return { parsed: parseSystem(data, accounts), program: 'system', programId, stackHeight };
    if (programId === TOKEN_PROGRAM || programId === TOKEN_2022_PROGRAM)
      return { parsed: parseToken(data, accounts), program: tokenProgramName(programId), programId, stackHeight };
    if (programId === ASSOCIATED_TOKEN_PROGRAM)
      return { parsed: parseAssociatedToken(data, accounts), program: 'spl-associated-token-account', programId, stackHeight };
  } catch (err) {
    if (!(err instanceof Unparsable) && !(err instanceof TypeError)) throw err;
  }
  return { accounts, data: encodeBase58(data), programId, stackHeight };
}

/** The text of a memo instruction's data, or null when it is not UTF-8. */
export function memoText(data: Uint8Array): string | null {
  try {
    return utf8.decode(data);
  } catch {
    return null;
  }
}
