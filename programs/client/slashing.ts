import { slashPlan } from '../../durable-objects/domain/slash.ts';
import { GOVERNANCE_PROGRAM_ID, proposalStatus } from '../governance/constants.ts';
import { GOVERNANCE_LAYOUT } from '../governance/layout.ts';
import { STAKING_PROGRAM_ID } from '../staking/constants.ts';
import { encodeBase58 } from './base58.ts';
import { decodeProposal, executeSlashInstructions, hexOf, proposeSlashInstructions, readChainTime, readGovernance, readProposal, type ProposalReading } from './governance.ts';
import { sendAndFinalize } from './mint.ts';
import { programRefusal } from './program-errors.ts';
import { fromBase64, solanaRpc, type SolanaRpc } from './rpc.ts';
import { readPositions, readStakingConfig } from './staking.ts';
import { signerFromSecretKey, type Instruction, type TransactionSigner } from './tx.ts';

/*
 * Slashing for the Worker: the verifier's key (SLASH_PROPOSER_KEY, governance's slash proposer)
 * proposes the slash of a provider proven wrong, and once the appeal window has passed without a
 * veto, executes it (anyone may; the verifier does it so that nobody has to). Each step reads the
 * chain first, so that a step repeated after a crash finds what the first did: a proposal is known
 * by its evidence (the receipt's digest is unique to a job's replica).
 */

export interface SlashingConfig {
  rpcUrl: string;
  mint: string;
  /** The verifier's 64-byte secret key, base58. */
  proposerKey: string;
  stakingProgram?: string;
  governanceProgram?: string;
  timeoutMs?: number;
}

/** What proposing a slash came to. */
export type Proposed = { outcome: 'proposed'; proposal: number; amount: bigint; executableAt: number } | { outcome: 'skipped' | 'refused'; reason: string };

/** Where a proposed slash stands on chain, or what executing it came to. */
export type Settled = { outcome: 'waiting' } | { outcome: 'executed' | 'vetoed' } | { outcome: 'refused'; reason: string };

export interface Slashing {
  /** Proposes slashing `provider` (its largest position) with the evidence's digests; finds the proposal instead when one with this evidence exists. */
  propose(o: { provider: string; evidence: Uint8Array; digests: Uint8Array }): Promise<Proposed>;
  /** Executes proposal `index` once its appeal window is over (unless vetoed); reports how it stands. */
  settle(index: number): Promise<Settled>;
}

const P = GOVERNANCE_LAYOUT.proposal;

/** The slash proposal carrying `evidence`, if there is one. */
async function proposalWithEvidence(rpc: SolanaRpc, evidence: Uint8Array, programId: string): Promise<ProposalReading | null> {
  const found = await rpc.call<{ pubkey: string; account: { data: [string, 'base64'] } }[]>('getProgramAccounts', [
    programId,
    {
      commitment: 'finalized',
      encoding: 'base64',
      filters: [{ dataSize: P.size }, { memcmp: { offset: 0, bytes: encodeBase58(Uint8Array.of(P.kind)) } }, { memcmp: { offset: P.at.evidence, bytes: encodeBase58(evidence) } }],
    },
  ]);
  const proposals = found.map((a) => decodeProposal(a.pubkey, fromBase64(a.account.data[0]))).filter((p) => p.action === 'slash' && p.evidence === hexOf(evidence));
  return proposals[0] ?? null;
}

export function slashing(config: SlashingConfig): Slashing {
  const rpc = solanaRpc(config.rpcUrl, { timeoutMs: config.timeoutMs ?? 10_000 });
  const governanceProgram = config.governanceProgram ?? GOVERNANCE_PROGRAM_ID;
  const stakingProgram = config.stakingProgram ?? STAKING_PROGRAM_ID;
  let signer: Promise<TransactionSigner> | null = null;
  const proposer = () => (signer ??= signerFromSecretKey(config.proposerKey.trim()));
  const programs = { governanceProgram, stakingProgram };

  /** Sends, finalized; a refusal by one of our programs comes back as its sentence. */
  const send = async (instructions: Instruction[]): Promise<{ refused: string } | null> => {
    try {
      await sendAndFinalize(rpc, { instructions, signers: [await proposer()] });
      return null;
    } catch (e) {
      const refusal = programRefusal(e, instructions, { governance: governanceProgram, staking: stakingProgram });
      if (!refusal) throw e;
      return { refused: `the ${refusal.programName} program refused: ${refusal.sentence} (${refusal.error})` };
    }
  };

  return {
    propose: async ({ provider, evidence, digests }) => {
      const existing = await proposalWithEvidence(rpc, evidence, governanceProgram);
      if (existing) return { outcome: 'proposed', proposal: Number(existing.index), amount: existing.change.action === 'slash' ? existing.change.amount : 0n, executableAt: existing.executableAt * 1000 };
      const [staking, positions, governance] = await Promise.all([readStakingConfig(rpc, { programId: stakingProgram, commitment: 'finalized' }), readPositions(rpc, provider, { programId: stakingProgram, commitment: 'finalized' }), readGovernance(rpc, { programId: governanceProgram, commitment: 'finalized' })]);
      const plan = slashPlan(provider, positions, staking.maxSlashBpsPerEvent);
      if ('skipped' in plan) return { outcome: 'skipped', reason: plan.skipped };
      const { position, amount } = plan;
      const index = governance.proposalCount;
      const instructions = await proposeSlashInstructions({ proposer: (await proposer()).publicKey, index, position: position.address, amount, evidence, digests, ...programs });
      const refused = await send(instructions);
      if (refused) return { outcome: 'refused', reason: refused.refused };
      const proposal = await readProposal(rpc, index, { programId: governanceProgram, commitment: 'finalized' });
      if (!proposal || proposal.evidence !== hexOf(evidence)) throw new Error(`proposal ${index} does not carry this slash's evidence after its transaction landed`);
      return { outcome: 'proposed', proposal: Number(index), amount, executableAt: proposal.executableAt * 1000 };
    },
    settle: async (index) => {
      const [proposal, governance, now] = await Promise.all([readProposal(rpc, BigInt(index), { programId: governanceProgram, commitment: 'finalized' }), readGovernance(rpc, { programId: governanceProgram, commitment: 'finalized' }), readChainTime(rpc)]);
      if (!proposal || proposal.action !== 'slash') return { outcome: 'refused', reason: `proposal ${index} is not a slash on this chain` };
      const status = proposalStatus(proposal, governance, now);
      if (status === 'executed') return { outcome: 'executed' };
      if (status === 'vetoed') return { outcome: 'vetoed' };
      if (status !== 'executable') return { outcome: 'waiting' };
      const treasury = (await readStakingConfig(rpc, { programId: stakingProgram, commitment: 'finalized' })).treasury;
      const refused = await send(await executeSlashInstructions({ executor: (await proposer()).publicKey, proposal, treasury, mint: config.mint, ...programs }));
      // Executed by another meanwhile: the program says alreadyExecuted, which is the outcome wanted.
      if (refused && !refused.refused.includes('(alreadyExecuted)')) return { outcome: 'refused', reason: refused.refused };
      return { outcome: 'executed' };
    },
  };
}

