import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askAdmission, stakeShortfall, type ProviderStake } from '../../durable-objects/domain/collateral.ts';
import { startLocalChain, type LocalChain } from '../local-chain/server.ts';
import { stakingWorld } from '../testing/staking-world.ts';
import { readProviderStake } from './collateral.ts';
import { Readings } from './readings.ts';
import { solanaRpc } from './rpc.ts';

describe('provider collateral', () => {
  let chain: LocalChain;
  beforeAll(async () => {
    chain = await startLocalChain({ port: 0, slotMs: 20 });
  });
  afterAll(async () => {
    await chain.stop();
  });

  it('reads a provider’s staked positions (not those unstaked) and the minimum, through RPC', async () => {
    const w = await stakingWorld({ chain: chain.chain, minProviderStake: 5_000n });
    const [provider, other] = [await w.wallet(100_000n), await w.wallet(100_000n)];
    const rpc = solanaRpc(chain.url);
    expect(await readProviderStake(rpc, provider.key)).toEqual({ staked: 0n, minimum: 5_000n });
    await w.stake(provider, 1n, 3_000n, 0);
    await w.stake(provider, 2n, 1_500n, 365);
    await w.stake(other, 1n, 50_000n, 0);
    const before = await readProviderStake(rpc, provider.key);
    expect(before).toEqual({ staked: 4_500n, minimum: 5_000n });
    expect(stakeShortfall(before)).toBe(500n);
    await w.stake(provider, 3n, 600n, 10);
    await w.unstake(provider, 1n); // leaving: no longer counts
    expect(await readProviderStake(rpc, provider.key)).toEqual({ staked: 2_100n, minimum: 5_000n });
  });

  it('keeps a reading for at most its age bound, shares one read among concurrent asks, and forgets a failed read', async () => {
    let now = 0;
    let reads = 0;
    let fail = false;
    const stake: ProviderStake = { staked: 10n, minimum: 5n };
    const reader = new Readings<ProviderStake>(
      async () => {
        reads++;
        if (fail) throw new Error('chain unavailable');
        return stake;
      },
      1_000,
      () => now,
    );
    await Promise.all([reader.get('p'), reader.get('p')]);
    expect(reads).toBe(1);
    now = 999;
    await reader.get('p');
    expect(reads).toBe(1);
    now = 1_000;
    fail = true;
    await expect(reader.get('p')).rejects.toThrow('chain unavailable');
    await Promise.resolve();
    fail = false;
    expect(await reader.get('p')).toEqual(stake);
    expect(reads).toBe(3);
  });
});

describe('askAdmission', () => {
  it('admits a provider at or above the minimum, and refuses one below it saying how much is missing', () => {
    expect(askAdmission('p', { staked: 5n, minimum: 5n })).toEqual({ ok: true, value: undefined });
    expect(askAdmission('p', { staked: 0n, minimum: 0n })).toEqual({ ok: true, value: undefined });
    const r = askAdmission('p', { staked: 3n, minimum: 5n });
    expect(r.ok ? null : r.error).toMatchObject({ code: 'CUSTODY__STAKE_BELOW_MINIMUM', context: { provider: 'p', staked: 3n, minimum: 5n, shortfall: 2n } });
  });
});

describe('stakeShortfall', () => {
  it('is what the stake lacks of the minimum, and nothing at or above it', () => {
    expect(stakeShortfall({ staked: 0n, minimum: 0n })).toBe(0n);
    expect(stakeShortfall({ staked: 4n, minimum: 5n })).toBe(1n);
    expect(stakeShortfall({ staked: 5n, minimum: 5n })).toBe(0n);
    expect(stakeShortfall({ staked: 6n, minimum: 5n })).toBe(0n);
  });
});
