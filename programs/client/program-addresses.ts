import { findProgramAddress } from './address.ts';
import { keyBytes } from './tx.ts';
import { ESCROW_PROGRAM_ID } from '../escrow/constants.ts';
import { STAKING_PROGRAM_ID } from '../staking/constants.ts';
import { GOVERNANCE_PROGRAM_ID } from '../governance/constants.ts';

/*
 * The program-derived addresses of our programs, by their seeds (escrow/idl.ts, staking/idl.ts
 * and governance/idl.ts name them): the configurations, a buyer's escrow and vault, the staking
 * vaults, a position, governance, a proposal, a vote, a market's parameters.
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
  return pda(programId, text('position'), keyBytes(owner), u64le(id));
}

export const governanceAddress = (programId = GOVERNANCE_PROGRAM_ID) => pda(programId, text('governance'));

const u64le = (n: bigint) => {
  const le = new Uint8Array(8);
  new DataView(le.buffer).setBigUint64(0, n, true);
  return le;
};

export const proposalAddress = (index: bigint, programId = GOVERNANCE_PROGRAM_ID) => pda(programId, text('proposal'), u64le(index));

export const voteRecordAddress = (proposal: string, position: string, programId = GOVERNANCE_PROGRAM_ID) => pda(programId, text('vote'), keyBytes(proposal), keyBytes(position));

/** A market's name as its parameter account's seed and field: its bytes, zero-padded to 32. */
export function marketNameBytes(market: string): Uint8Array {
  const bytes = text(market);
  if (bytes.length === 0 || bytes.length > 32) throw new Error(`a market's name takes 1 to 32 bytes: ${market}`);
  const out = new Uint8Array(32);
  out.set(bytes);
  return out;
}

export const marketParamsAddress = (market: string, programId = GOVERNANCE_PROGRAM_ID) => pda(programId, text('market'), marketNameBytes(market));
