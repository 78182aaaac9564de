// GENERATED from programs/staking/idl.ts by programs/build/clients.ts (Codama, @codama/renderers-js-umi): do not edit; change the IDL and run npm run build:clients.

/** Each account of the program: its kind (first byte), size and field byte offsets. */
export const STAKING_LAYOUT = {
  stakingConfig: { kind: 1, size: 272, at: { bump: 1, stakeVaultBump: 2, rewardVaultBump: 3, maxSlashBpsPerEvent: 4, maxSlashBpsPerEpoch: 6, admin: 8, slashAuthority: 40, mint: 72, treasury: 104, minProviderStake: 136, cooldownSeconds: 144, totalStaked: 152, totalWeight: 160, rewardPerWeight: 168, carry: 184, feesToStakers: 192, feesToTreasury: 200, claimed: 208, slashed: 216, slashEpoch: 224, slashedInEpoch: 232, reserved: 240, reserved2: 248, reserved3: 256, reserved4: 264 } },
  position: { kind: 2, size: 184, at: { bump: 1, lockDays: 2, reserved: 4, reserved2: 6, owner: 8, id: 40, amount: 48, weight: 56, createdAt: 64, unstakedAt: 72, unlockAt: 80, owed: 88, debt: 104, claimed: 120, slashed: 128, lastEvidence: 136, grewAt: 168, heldUntil: 176 } },
} as const;
