// GENERATED from programs/governance/idl.ts by programs/build/clients.ts (Codama, @codama/renderers-js-umi): do not edit; change the IDL and run npm run build:clients.

/** Each account of the program: its kind (first byte), size and field byte offsets. */
export const GOVERNANCE_LAYOUT = {
  governance: { kind: 1, size: 160, at: { bump: 1, quorumBps: 2, vetoBps: 4, reserved: 6, stakingConfig: 8, escrowConfig: 40, slashProposer: 72, proposalThreshold: 104, votingSeconds: 112, holdUpSeconds: 120, appealSeconds: 128, proposalCount: 136, reserved2: 144, reserved3: 152 } },
  proposal: { kind: 2, size: 392, at: { bump: 1, action: 2, executed: 3, reserved: 4, index: 8, proposer: 16, openedAt: 48, votingEndsAt: 56, executableAt: 64, weightAtOpen: 72, forWeight: 80, againstWeight: 88, voters: 96, target: 104, extra: 136, extra2: 168, evidence: 200, digests: 232, payload: 264 } },
  marketParams: { kind: 3, size: 120, at: { bump: 1, reserved: 2, market: 8, updatedAt: 40, proposal: 48, leaseMs: 56, maxRematches: 64, challengeWindowMs: 72, replicaBidTtlMs: 80, agentGraceMs: 88, failedRunUnits: 96, chatTokenPrice: 104, chatVerifyBps: 112 } },
  voteRecord: { kind: 4, size: 120, at: { bump: 1, side: 2, reserved: 3, proposal: 8, position: 40, voter: 72, weight: 104, votedAt: 112 } },
} as const;
