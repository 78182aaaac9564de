// GENERATED from programs/escrow/idl.ts by programs/build/clients.ts (Codama, @codama/renderers-js-umi): do not edit; change the IDL and run npm run build:clients.

/** Each account of the program: its kind (first byte), size and field byte offsets. */
export const ESCROW_LAYOUT = {
  escrowConfig: { kind: 1, size: 240, at: { bump: 1, feeBps: 2, stakersShareBps: 4, reserved: 6, admin: 8, authority: 40, mint: 72, rewardVault: 104, treasury: 136, stakingProgram: 168, stakingConfig: 200, withdrawTimelockSeconds: 232 } },
  escrow: { kind: 2, size: 96, at: { bump: 1, vaultBump: 2, reserved: 3, buyer: 8, nextBatch: 40, withdrawalRequestedAt: 48, settledTotal: 56, lastReceiptsHash: 64 } },
} as const;
