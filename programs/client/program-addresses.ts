import { findProgramAddress } from './address.ts';
import { keyBytes } from './tx.ts';
import { ESCROW_PROGRAM_ID } from '../escrow/constants.ts';
import { STAKING_PROGRAM_ID } from '../staking/constants.ts';

/*
 * The program-derived addresses of our programs, by their seeds (escrow/idl.ts and staking/idl.ts
 * name them): the configurations, a buyer's escrow and vault, the staking vaults, a position.
 */

const text = (s: string) => new TextEncoder().encode(s);
const pda = async (programId: string, ...seeds: Uint8Array[]) => (await findProgramAddress(seeds, programId)).address;

export const escrowConfigAddress = (programId = ESCROW_PROGRAM_ID) => pda(programId, text('config'));

export async function escrowAddresses(buyer: string, programId = ESCROW_PROGRAM_ID): Promise<{ escrow: string; vault: string }> {
  const escrow = await pda(programId, text('escrow'), keyBytes(buyer));
  return { escrow, vault: await pda(programId, text('vault'), keyBytes(escrow)) };
}

export async function stakingAddresses(programId = STAKING_PROGRAM_ID): Promise<{ config: string; stakeVault: string; rewardVault: string }> {
  return { config: await pda(programId, text('config')), stakeVault: await pda(programId, text('stake-vault')), rewardVault: await pda(programId, text('reward-vault')) };
}

export function positionAddress(owner: string, id: bigint, programId = STAKING_PROGRAM_ID): Promise<string> {
  const le = new Uint8Array(8);
  new DataView(le.buffer).setBigUint64(0, id, true);
  return pda(programId, text('position'), keyBytes(owner), le);
}
