/**
 * Settlement design B (escrow-claims.c, for the programs benchmark only): its three instructions,
 * written by hand from the C file's header comment (the variant has no IDL of its own: its other
 * instructions are the escrow's, and it is never deployed outside the benchmark and its spec).
 */
import { associatedTokenAddress, findProgramAddress, SYSTEM_PROGRAM, TOKEN_PROGRAM } from '../client/address.ts';
import { keyBytes, type Instruction } from '../client/tx.ts';
import { escrowConfigAddress } from '../client/program-addresses.ts';
import { ESCROW_PROGRAM_ID } from '../escrow/constants.ts';

export const CLAIMS_INSTRUCTIONS = { openClaim: 100, settleClaims: 101, claim: 102 } as const;
export const CLAIM_BALANCE_AT = 40;
/** Accounts of the escrow's settle before its providers (escrow_idl.h). */
const SETTLE_FIXED_ACCOUNTS = 10;

const meta = (pubkey: string, isWritable: boolean, isSigner = false) => ({ pubkey, isSigner, isWritable });

/** A provider's claim balance: PDA "claim", provider token account. */
export const claimAddress = async (tokenAccount: string, programId = ESCROW_PROGRAM_ID) => (await findProgramAddress([new TextEncoder().encode('claim'), keyBytes(tokenAccount)], programId)).address;

/** The claims vault: the config PDA's associated token account. */
export const claimsVaultAddress = async (mint: string) => associatedTokenAddress(await escrowConfigAddress(), mint);

export async function openClaim(o: { payer: string; tokenAccount: string }): Promise<Instruction> {
  return {
    programId: ESCROW_PROGRAM_ID,
    keys: [meta(o.payer, true, true), meta(await claimAddress(o.tokenAccount), true), meta(o.tokenAccount, false), meta(await escrowConfigAddress(), false), meta(SYSTEM_PROGRAM, false)],
    data: Uint8Array.of(CLAIMS_INSTRUCTIONS.openClaim),
  };
}

/** An escrow settle instruction (with claim accounts where it names providers) turned into settleClaims. */
export function settleClaims(settle: Instruction, claimsVault: string): Instruction {
  const data = new Uint8Array(settle.data);
  data[0] = CLAIMS_INSTRUCTIONS.settleClaims;
  return { ...settle, keys: [...settle.keys.slice(0, SETTLE_FIXED_ACCOUNTS), meta(claimsVault, true), ...settle.keys.slice(SETTLE_FIXED_ACCOUNTS)], data };
}

export async function claim(o: { tokenAccount: string; mint: string }): Promise<Instruction> {
  return {
    programId: ESCROW_PROGRAM_ID,
    keys: [meta(await claimAddress(o.tokenAccount), true), meta(o.tokenAccount, true), meta(await claimsVaultAddress(o.mint), true), meta(await escrowConfigAddress(), false), meta(o.mint, false), meta(TOKEN_PROGRAM, false)],
    data: Uint8Array.of(CLAIMS_INSTRUCTIONS.claim),
  };
}

/** A claim account's balance, from its bytes. */
export const claimBalance = (data: Uint8Array) => new DataView(data.buffer, data.byteOffset).getBigUint64(CLAIM_BALANCE_AT, true);
