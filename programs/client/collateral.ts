import type { ProviderStake } from '../../durable-objects/domain/collateral.ts';
import { STAKING_PROGRAM_ID } from '../staking/constants.ts';
import { STAKING_LAYOUT } from '../staking/layout.ts';
import { encodeBase58 } from './base58.ts';
import { stakingAddresses } from './program-addresses.ts';
import { fromBase64, type SolanaRpc } from './rpc.ts';

/*
 * Reading a provider's collateral from the staking program: its positions (getProgramAccounts,
 * filtered on the position's kind and owner) and the configuration's minimum, at finalized
 * commitment, with the account layout generated from the program's IDL (staking/layout.ts).
 */

const P = STAKING_LAYOUT.position;
const C = STAKING_LAYOUT.stakingConfig;

const u64 = (data: Uint8Array, at: number) => new DataView(data.buffer, data.byteOffset, data.byteLength).getBigUint64(at, true);

/** The provider's staked amount (positions not unstaked) and the minimum the configuration asks. */
export async function readProviderStake(rpc: SolanaRpc, owner: string, programId = STAKING_PROGRAM_ID): Promise<ProviderStake> {
  const config = await stakingConfigData(rpc, (await stakingAddresses(programId)).config, programId);
  const positions = await rpc.call<{ account: { data: [string, 'base64'] } }[]>('getProgramAccounts', [
    programId,
    {
      commitment: 'finalized',
      encoding: 'base64',
      filters: [{ dataSize: P.size }, { memcmp: { offset: 0, bytes: encodeBase58(Uint8Array.of(P.kind)) } }, { memcmp: { offset: P.at.owner, bytes: owner } }],
    },
  ]);
  let staked = 0n;
  for (const p of positions) {
    const data = fromBase64(p.account.data[0]);
    if (u64(data, P.at.unstakedAt) === 0n) staked += u64(data, P.at.amount);
  }
  return { staked, minimum: u64(config, C.at.minProviderStake) };
}

/** The staking configuration's counters of fees shared among positions and of rewards claimed (finalized). */
export async function readStakingCounters(rpc: SolanaRpc, config: string, programId = STAKING_PROGRAM_ID): Promise<{ feesToStakers: bigint; claimed: bigint }> {
  const data = await stakingConfigData(rpc, config, programId);
  return { feesToStakers: u64(data, C.at.feesToStakers), claimed: u64(data, C.at.claimed) };
}

/** The staking configuration's data (finalized); throws when the account is absent or not the program's configuration. */
async function stakingConfigData(rpc: SolanaRpc, config: string, programId: string): Promise<Uint8Array> {
  const info = (await rpc.getAccountInfo(config, 'finalized')).value;
  if (!info || info.owner !== programId || info.data.length !== C.size || info.data[0] !== C.kind) throw new Error(`no staking configuration of ${programId} at ${config}`);
  return info.data;
}
