// SPL Token (and Token-2022 base) account layouts, read the way the RPC presents them: token
// balances in transaction metadata, jsonParsed accounts, token amounts with their decimals.

import { TOKEN_PROGRAM } from '../client/address.ts';
import { encodeBase58 } from '../client/base58.ts';

export const TOKEN_2022_PROGRAM = 'TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb';
export const NATIVE_MINT = 'So11111111111111111111111111111111111111112';

const MINT_SIZE = 82;
const ACCOUNT_SIZE = 165;
const ACCOUNT_TYPE_MINT = 1;
const ACCOUNT_TYPE_ACCOUNT = 2;

export const isTokenProgram = (owner: string): boolean => owner === TOKEN_PROGRAM || owner === TOKEN_2022_PROGRAM;

export interface MintState {
  mintAuthority: string | null;
  supply: bigint;
  decimals: number;
  isInitialized: boolean;
  freezeAuthority: string | null;
}

export interface TokenAccountState {
  mint: string;
  owner: string;
  amount: bigint;
  delegate: string | null;
  state: 'uninitialized' | 'initialized' | 'frozen';
  /** The rent-exempt reserve of a wrapped-SOL account; null for other mints. */
  isNative: bigint | null;
  delegatedAmount: bigint;
  closeAuthority: string | null;
}

export interface UiTokenAmount {
  amount: string;
  decimals: number;
  uiAmount: number;
  uiAmountString: string;
}

const u64 = (d: Uint8Array, at: number): bigint => new DataView(d.buffer, d.byteOffset + at, 8).getBigUint64(0, true);
const u32 = (d: Uint8Array, at: number): number => new DataView(d.buffer, d.byteOffset + at, 4).getUint32(0, true);
const optionalKey = (d: Uint8Array, at: number): string | null => (u32(d, at) === 1 ? encodeBase58(d.subarray(at + 4, at + 36)) : null);

/** The mint in `data`, or null when the data is not an initialized mint's layout. */
export function decodeMint(data: Uint8Array): MintState | null {
  const isMint = data.length === MINT_SIZE || (data.length > ACCOUNT_SIZE && data[ACCOUNT_SIZE] === ACCOUNT_TYPE_MINT);
  if (!isMint || data[45] !== 1) return null;
  return {
    mintAuthority: optionalKey(data, 0),
    supply: u64(data, 36),
    decimals: data[44]!,
    isInitialized: true,
    freezeAuthority: optionalKey(data, 46),
  };
}

/** The token account in `data`, or null when the data is not an initialized token account. */
export function decodeTokenAccount(data: Uint8Array): TokenAccountState | null {
  const isAccount = data.length === ACCOUNT_SIZE || (data.length > ACCOUNT_SIZE && data[ACCOUNT_SIZE] === ACCOUNT_TYPE_ACCOUNT);
  if (!isAccount) return null;
  const state = data[108];
  if (state !== 1 && state !== 2) return null;
  return {
    mint: encodeBase58(data.subarray(0, 32)),
    owner: encodeBase58(data.subarray(32, 64)),
    amount: u64(data, 64),
    delegate: optionalKey(data, 72),
    state: state === 1 ? 'initialized' : 'frozen',
    isNative: u32(data, 109) === 1 ? u64(data, 113) : null,
    delegatedAmount: u64(data, 121),
    closeAuthority: optionalKey(data, 129),
  };
}

/** `amount` as a decimal string with `decimals` places, trailing zeros trimmed ("1.5", "0"). */
export function formatAmount(amount: bigint, decimals: number): string {
  if (decimals === 0) return amount.toString();
  const digits = amount.toString().padStart(decimals + 1, '0');
  const whole = digits.slice(0, -decimals);
  const frac = digits.slice(-decimals).replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : whole;
}

/** A token amount as the RPC writes it. */
export function uiTokenAmount(amount: bigint, decimals: number): UiTokenAmount {
  const uiAmountString = formatAmount(amount, decimals);
  return { amount: amount.toString(), decimals, uiAmount: Number(uiAmountString), uiAmountString };
}

/** The program name jsonParsed uses for a token program. */
export const tokenProgramName = (owner: string): string => (owner === TOKEN_2022_PROGRAM ? 'spl-token-2022' : 'spl-token');

/** A mint or token account in jsonParsed form; null when it is neither (the caller falls back to base64). */
export function parseTokenAccountData(data: Uint8Array, owner: string, decimalsOf: (mint: string) => number | null): { program: string; parsed: unknown; space: number } | null {
  const program = tokenProgramName(owner);
  const mint = decodeMint(data);
  if (mint) {
    return {
      program,
      space: data.length,
      parsed: {
        type: 'mint',
        info: { decimals: mint.decimals, freezeAuthority: mint.freezeAuthority, isInitialized: true, mintAuthority: mint.mintAuthority, supply: mint.supply.toString() },
      },
    };
  }
  const account = decodeTokenAccount(data);
  if (!account) return null;
  const decimals = decimalsOf(account.mint);
  if (decimals === null) return null;
  const info: Record<string, unknown> = {
    isNative: account.isNative !== null,
    mint: account.mint,
    owner: account.owner,
    state: account.state,
    tokenAmount: uiTokenAmount(account.amount, decimals),
  };
  if (account.delegate) {
    info.delegate = account.delegate;
    info.delegatedAmount = uiTokenAmount(account.delegatedAmount, decimals);
  }
  if (account.isNative !== null) info.rentExemptReserve = uiTokenAmount(account.isNative, decimals);
  if (account.closeAuthority) info.closeAuthority = account.closeAuthority;
  return { program, space: data.length, parsed: { type: 'account', info } };
}
