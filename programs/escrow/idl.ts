/**
 * The escrow program's interface, in the Codama format: the single source of its accounts,
 * instructions, arguments and errors. `escrow.c` implements exactly this layout (its spec checks the
 * generated client against the deployed program); `npm run build:clients` renders the Umi client in
 * `client/` from it.
 *
 * The money rules it carries (see escrow.c):
 * - one escrow per buyer (PDA "escrow", buyer) with its token vault (PDA "vault", escrow);
 * - `settle` pays providers from one escrow in a batch numbered by the escrow's next batch, under a
 *   hash of the job receipts it covers; each payout's fee is floor(gross × feeBps / 10,000), as the
 *   marketplace's ledger computes it; of the batch's fees, stakersShareBps go by CPI to the staking
 *   program's distribute (shared by stake weight, or to the treasury when nothing is staked) and the
 *   rest to the treasury; the settlement authority can never pay an account it owns;
 * - a withdrawal signed by the buyer and the authority together is immediate; the buyer alone
 *   requests one and withdraws after the timelock, so funds are never stuck.
 */
import {
  accountNode,
  accountValueNode,
  argumentValueNode,
  arrayTypeNode,
  constantPdaSeedNodeFromString,
  fieldDiscriminatorNode,
  instructionRemainingAccountsNode,
  pdaLinkNode,
  pdaNode,
  pdaSeedValueNode,
  pdaValueNode,
  prefixedCountNode,
  programNode,
  publicKeyValueNode,
  publicKeyTypeNode,
  remainderCountNode,
  rootNode,
  structTypeNode,
  variablePdaSeedNode,
  type RootNode,
} from 'codama';
import { ESCROW_PROGRAM_ID, ESCROW_INSTRUCTIONS, ESCROW_ACCOUNT_KINDS, ESCROW_ERRORS } from './constants.ts';
import { account, arg, bytes, errorsOf, field, hash, i64, instructionsOf, kindField, systemProgram, tokenProgram, u16, u64, u8 } from '../build/idl-kit.ts';
import { STAKING_PROGRAM_ID } from '../staking/idl.ts';

const configAccount = (writable = false) => account('config', { writable, defaultValue: pdaValueNode('escrowConfig') });
const escrowAccount = () => account('escrow', { writable: true, defaultValue: pdaValueNode('escrow', [pdaSeedValueNode('buyer', accountValueNode('buyer'))]) });
/** The vault is an SPL token account at a PDA of ours; the Umi renderer derives only our own accounts' PDAs, so callers pass it (addresses.ts). */
const vaultAccount = () => account('vault', { writable: true, docs: 'The escrow’s token account: PDA "vault", escrow (see addresses.ts).' });

const instruction = instructionsOf(ESCROW_INSTRUCTIONS);

export function escrowIdl(): RootNode {
  return rootNode(
    programNode({
      name: 'dougEscrow',
      publicKey: ESCROW_PROGRAM_ID,
      version: '0.1.0',
      docs: ['DougAI escrow: buyers’ $DOUG held per buyer, paid to providers in numbered batches, never stuck.'],
      pdas: [
        pdaNode({ name: 'escrowConfig', seeds: [constantPdaSeedNodeFromString('utf8', 'config')] }),
        pdaNode({ name: 'escrow', seeds: [constantPdaSeedNodeFromString('utf8', 'escrow'), variablePdaSeedNode('buyer', publicKeyTypeNode())] }),
        pdaNode({ name: 'vault', seeds: [constantPdaSeedNodeFromString('utf8', 'vault'), variablePdaSeedNode('escrow', publicKeyTypeNode())] }),
      ],
      accounts: [
        accountNode({
          name: 'escrowConfig',
          docs: ['The program’s one configuration (PDA "config"): who settles, the mint, the fee and where it goes, the timelock.'],
          size: 240,
          data: structTypeNode([
            kindField(ESCROW_ACCOUNT_KINDS.escrowConfig),
            field('bump', u8()),
            field('feeBps', u16(), 'Protocol fee on each payout, in basis points (0 to 2,000).'),
            field('stakersShareBps', u16(), 'The stakers’ share of the fee, in basis points; the rest goes to the treasury.'),
            field('reserved', u16()),
            field('admin', publicKeyTypeNode(), 'Changes the parameters (a governance PDA once governance exists).'),
            field('authority', publicKeyTypeNode(), 'The marketplace’s settlement authority.'),
            field('mint', publicKeyTypeNode()),
            field('rewardVault', publicKeyTypeNode(), 'The staking program’s reward vault, which receives the stakers’ share of fees.'),
            field('treasury', publicKeyTypeNode(), 'Token account receiving the rest of the fees (the staking program’s treasury too).'),
            field('stakingProgram', publicKeyTypeNode(), 'The staking program, which the stakers’ share is paid to.'),
            field('stakingConfig', publicKeyTypeNode(), 'The staking program’s configuration.'),
            field('withdrawTimelockSeconds', u64(), 'How long after a request the buyer may withdraw alone.'),
          ]),
          pda: pdaLinkNode('escrowConfig'),
          discriminators: [fieldDiscriminatorNode('discriminator')],
        }),
        accountNode({
          name: 'escrow',
          docs: ['One buyer’s escrow (PDA "escrow", buyer); its tokens sit in the vault (PDA "vault", escrow).'],
          size: 96,
          data: structTypeNode([
            kindField(ESCROW_ACCOUNT_KINDS.escrow),
            field('bump', u8()),
            field('vaultBump', u8()),
            field('reserved', bytes(5)),
            field('buyer', publicKeyTypeNode()),
            field('nextBatch', u64(), 'The number the next settle must carry.'),
            field('withdrawalRequestedAt', i64(), 'Unix time of the buyer’s pending withdrawal request; 0 when none.'),
            field('settledTotal', u64(), 'Everything paid out of this escrow so far (payouts and fees).'),
            field('lastReceiptsHash', hash(), 'The receipts hash of the last settled batch.'),
          ]),
          pda: pdaLinkNode('escrow'),
          discriminators: [fieldDiscriminatorNode('discriminator')],
        }),
      ],
      instructions: [
        instruction(
          'initializeConfig',
          'Creates the configuration; its signer becomes the admin.',
          [account('admin', { writable: true, signer: true }), configAccount(true), account('mint'), account('rewardVault'), account('treasury'), systemProgram()],
          [
            arg('feeBps', u16()),
            arg('stakersShareBps', u16()),
            arg('withdrawTimelockSeconds', u64()),
            arg('authority', publicKeyTypeNode()),
            arg('stakingProgram', publicKeyTypeNode()),
            arg('stakingConfig', publicKeyTypeNode()),
          ],
        ),
        instruction(
          'updateConfig',
          'Changes the parameters and fee accounts (admin only).',
          [account('admin', { signer: true }), configAccount(true), account('rewardVault'), account('treasury')],
          [arg('feeBps', u16()), arg('stakersShareBps', u16()), arg('withdrawTimelockSeconds', u64()), arg('newAdmin', publicKeyTypeNode())],
        ),
        instruction('setAuthority', 'Hands settlement to a new authority (signed by the current one).', [account('authority', { signer: true }), configAccount(true)], [arg('newAuthority', publicKeyTypeNode())]),
        instruction('openEscrow', 'Creates the buyer’s escrow and its vault (the buyer pays their rent).', [account('buyer', { writable: true, signer: true }), escrowAccount(), vaultAccount(), configAccount(), account('mint'), systemProgram(), tokenProgram()]),
        instruction(
          'deposit',
          'Moves the buyer’s tokens into their escrow.',
          [account('buyer', { signer: true }), account('buyerTokenAccount', { writable: true }), escrowAccount(), vaultAccount(), configAccount(), account('mint'), tokenProgram()],
          [arg('amount', u64())],
        ),
        instruction(
          'settle',
          'Pays a batch of verified jobs from one escrow: each payout’s net to its provider’s token account (the remaining accounts, by index); of the fees, the stakers’ share by CPI to the staking program’s distribute, the rest to the treasury.',
          [
            account('authority', { signer: true }),
            configAccount(),
            account('escrow', { writable: true }),
            account('vault', { writable: true }),
            account('mint'),
            account('rewardVault', { writable: true }),
            account('treasury', { writable: true }),
            tokenProgram(),
            account('stakingProgram', { defaultValue: publicKeyValueNode(STAKING_PROGRAM_ID, 'dougStaking') }),
            account('stakingConfig', { writable: true }),
          ],
          [
            arg('batch', u64(), 'Must equal the escrow’s nextBatch.'),
            arg('receiptsHash', hash(), 'SHA-256 over the batch’s job receipts.'),
            arg('feeBps', u16(), 'The fee the batch was priced at: refused (feeChanged) unless it is the configuration’s, so that a fee governance changes meanwhile fails the batch instead of paying at a fee the marketplace did not record.'),
            arg(
              'payouts',
              arrayTypeNode(
                structTypeNode([
                  field('provider', u8(), 'Index of the provider’s token account among the remaining accounts.'),
                  field('gross', u64(), 'What the job pays: the provider gets gross minus the fee.'),
                ]),
                prefixedCountNode(u8()),
              ),
            ),
          ],
          {
            extraArguments: [arg('providers', arrayTypeNode(publicKeyTypeNode(), remainderCountNode()), 'The providers’ token accounts, passed as the remaining accounts (not in the data).')],
            remainingAccounts: [instructionRemainingAccountsNode(argumentValueNode('providers'), { isWritable: true })],
          },
        ),
        instruction('requestWithdrawal', 'The buyer asks to leave; after the timelock they may withdraw alone.', [account('buyer', { signer: true }), escrowAccount()]),
        instruction('cancelWithdrawalRequest', 'The buyer takes the request back.', [account('buyer', { signer: true }), escrowAccount()]),
        instruction(
          'withdraw',
          'Pays escrowed tokens back to the buyer: at once when the settlement authority co-signs, else after the timelock of a request.',
          [
            account('buyer', { signer: true }),
            account('authority', { signer: 'either', docs: 'The settlement authority; its signature makes the withdrawal immediate.' }),
            configAccount(),
            escrowAccount(),
            vaultAccount(),
            account('buyerTokenAccount', { writable: true }),
            account('mint'),
            tokenProgram(),
          ],
          [arg('amount', u64())],
        ),
      ],
      errors: errorsOf(ESCROW_ERRORS),
    }),
  );
}

export { ESCROW_BOUNDS, ESCROW_PROGRAM_ID, ESCROW_INSTRUCTIONS, ESCROW_ACCOUNT_KINDS, MAX_PAYOUTS, ESCROW_ERRORS } from './constants.ts';
export type { EscrowErrorName } from './constants.ts';
