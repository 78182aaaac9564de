// Bootstraps $DOUG on a chain for `npm start` (idempotent; through Umi, sdk/umi.ts):
//   - keys, made once and kept in DIR with mode 0600 (Solana key files): the mint authority
//     (mint-authority.json), the custody authority (custody-authority.json) and the mint's own
//     address key (mint.json, so that a chain whose state was wiped gets the same mint back);
//   - SOL for both authorities and the verifier by airdrop (topped up to 100 SOL at every start);
//   - the $DOUG mint (9 decimals, no freeze authority) and custody's token account (the custody
//     authority's associated token account), each created only when missing on chain;
//   - the escrow, staking and governance programs (programs/<name>: their committed builds at their
//     committed addresses), deployed through the upgradeable loader when missing and upgraded when
//     their code differs (upgrade authority: program-authority.json), and their configurations,
//     each created only when missing (generated Umi clients): the escrow's settlement authority is
//     the custody authority, fees are shared with stakers through the staking program, both pay the
//     treasury (treasury.json's token account); governance's slash proposer is the verifier
//     (slash-proposer.json); then both configurations are handed to governance (their admin and the
//     staking program's slashing authority become governance's PDA), so that only executed
//     proposals change them;
//   - the settlement authority's address lookup table, holding the accounts every settle names, made
//     when config.json names none that the chain still has (the Worker adds providers' token
//     accounts as it settles to them);
//   - DIR/config.json {rpcUrl, mint, decimals, custodyTokenAccount, custodyAuthority, programs, settlementTable} and
//     DIR/worker.env (0600) with the Worker's secrets CUSTODY_AUTHORITY_KEY, MINT_AUTHORITY_KEY and SLASH_PROPOSER_KEY
//     (base58 of the 64-byte secret keys), for `wrangler dev --env-file`.
// Usage: node --import tsx scripts/chain-setup.ts --rpc http://127.0.0.1:8899 --dir .local/chain
// Prints config.json's content (never a secret).
import { chmod, mkdir, readFile, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { publicKey } from '@metaplex-foundation/umi';
import type { Keypair } from '../durable-objects/contracts/auth.ts';
import { encodeBase58 } from '../programs/client/base58.ts';
import { loadOrCreateKeypair } from '../sdk/keyfile.ts';
import { DOUG_DECIMALS, airdropUpTo, createDougMint, dougUmi, ensureTokenAccount, signerOf } from '../sdk/umi.ts';
import { Keypair as SolanaKeypair } from '@solana/web3.js';
import { PROTOCOL } from '../durable-objects/domain/params.ts';
import { programArtifacts } from '../programs/build/artifacts.ts';
import { ensureProgram } from '../programs/client/deploy.ts';
import { escrowConfigAddress, governanceAddress, stakingAddresses } from '../programs/client/program-addresses.ts';
import { readStakingConfig } from '../programs/client/staking.ts';
import { initialize as initializeGovernance } from '../programs/governance/client/index.ts';
import { GOVERNANCE_PROGRAM_ID } from '../programs/governance/constants.ts';
import { solanaRpc } from '../programs/client/rpc.ts';
import { signerFromSecretKey, type TransactionSigner } from '../programs/client/tx.ts';
import { readEscrowConfig, settleFixedAccounts } from '../programs/client/escrow.ts';
import { createLookupTable, extendLookupTable, parseLookupTable } from '../programs/client/lookup-table.ts';
import { sendAndFinalize } from '../programs/client/mint.ts';
import { initializeConfig, updateConfig as updateEscrowConfig } from '../programs/escrow/client/index.ts';
import { ESCROW_PROGRAM_ID } from '../programs/escrow/constants.ts';
import { initialize as initializeStaking, updateConfig as updateStakingConfig } from '../programs/staking/client/index.ts';
import { STAKING_PROGRAM_ID } from '../programs/staking/constants.ts';

export interface LocalChainConfig {
  rpcUrl: string;
  mint: string;
  decimals: number;
  custodyTokenAccount: string;
  custodyAuthority: string;
  programs: { escrow: string; escrowConfig: string; staking: string; stakingConfig: string; treasury: string; governance: string; governanceConfig: string };
  /** The verifier's key: governance's slash proposer. */
  slashProposer: string;
  /** The settlement authority's address lookup table (the Worker's SETTLEMENT_TABLE). */
  settlementTable: string;
}

/** The local deployment's first program parameters (governance owns them after): fee as the markets' default, 70% of it to stakers. */
const LOCAL_PROGRAM_PARAMS = { stakersShareBps: 7_000, withdrawTimelockSeconds: 86_400n, cooldownSeconds: 7n * 86_400n, maxSlashBpsPerEvent: 1_000, maxSlashBpsPerEpoch: 500, minProviderStake: 0n };

/**
 * Governance's first parameters: a fifth of the weight staked at a proposal's opening passes it, a
 * tenth vetoes a slash; a position of 1 DOUG of weight may propose; three days to vote, a day's
 * hold-up before execution, two days to appeal a slash.
 */
const LOCAL_GOVERNANCE_PARAMS = { quorumBps: 2_000, vetoBps: 1_000, proposalThreshold: 10n ** BigInt(DOUG_DECIMALS), votingSeconds: 3n * 86_400n, holdUpSeconds: 86_400n, appealSeconds: 2n * 86_400n };


/** Deploys (or upgrades) both programs and creates their configurations where missing. */
async function setupPrograms(o: { rpcUrl: string; dir: string; mint: string; custodyAuthority: string }): Promise<LocalChainConfig['programs']> {
  const authorityKey = await key(join(o.dir, 'program-authority.json'));
  const treasuryKey = await key(join(o.dir, 'treasury.json'));
  const slashProposer = await key(join(o.dir, 'slash-proposer.json'));
  const admin = dougUmi(o.rpcUrl, authorityKey.secretKey);
  await airdropUpTo(admin, authorityKey.publicKey, AUTHORITY_LAMPORTS);
  const rpc = solanaRpc(o.rpcUrl, { timeoutMs: 30_000 });
  const authority = await signerFromSecretKey(authorityKey.secretKey);
  const buffer = () => signerFromSecretKey(SolanaKeypair.generate().secretKey);
  for (const name of ['escrow', 'staking', 'governance']) {
    const { so, keypair } = programArtifacts(name);
    await ensureProgram(rpc, { elf: so, program: await signerFromSecretKey(keypair), authority, payer: authority, buffer });
  }
  const treasury = await ensureTokenAccount(admin, { owner: treasuryKey.publicKey, mint: o.mint });

  const staking = await stakingAddresses();
  const p = LOCAL_PROGRAM_PARAMS;
  const finalized = { send: { commitment: 'confirmed' as const }, confirm: { commitment: 'finalized' as const } };
  if (!(await admin.rpc.accountExists(publicKey(staking.config), { commitment: 'finalized' }))) {
    await initializeStaking(admin, {
      admin: admin.identity,
      mint: publicKey(o.mint),
      stakeVault: publicKey(staking.stakeVault),
      rewardVault: publicKey(staking.rewardVault),
      treasury: publicKey(treasury),
      minProviderStake: p.minProviderStake,
      cooldownSeconds: p.cooldownSeconds,
      maxSlashBpsPerEvent: p.maxSlashBpsPerEvent,
      maxSlashBpsPerEpoch: p.maxSlashBpsPerEpoch,
      slashAuthority: publicKey(authorityKey.publicKey),
    }).sendAndConfirm(admin, finalized);
  }
  const escrowConfig = await escrowConfigAddress();
  if (!(await admin.rpc.accountExists(publicKey(escrowConfig), { commitment: 'finalized' }))) {
    await initializeConfig(admin, {
      admin: admin.identity,
      mint: publicKey(o.mint),
      rewardVault: publicKey(staking.rewardVault),
      treasury: publicKey(treasury),
      feeBps: PROTOCOL.feeBps,
      stakersShareBps: p.stakersShareBps,
      withdrawTimelockSeconds: p.withdrawTimelockSeconds,
      authority: publicKey(o.custodyAuthority),
      stakingProgram: publicKey(STAKING_PROGRAM_ID),
      stakingConfig: publicKey(staking.config),
    }).sendAndConfirm(admin, finalized);
  }
  const governance = await governanceAddress();
  if (!(await admin.rpc.accountExists(publicKey(governance), { commitment: 'finalized' }))) {
    await initializeGovernance(admin, {
      payer: admin.identity,
      governance: publicKey(governance),
      stakingConfig: publicKey(staking.config),
      escrowConfig: publicKey(escrowConfig),
      ...LOCAL_GOVERNANCE_PARAMS,
      slashProposer: publicKey(slashProposer.publicKey),
    }).sendAndConfirm(admin, finalized);
  }
  // The hand-over, once: from here on only an executed proposal changes either configuration.
  const stakingNow = await readStakingConfig(rpc, { commitment: 'finalized' });
  if (stakingNow.admin === authorityKey.publicKey) {
    await updateStakingConfig(admin, {
      admin: admin.identity,
      config: publicKey(staking.config),
      treasury: publicKey(stakingNow.treasury),
      minProviderStake: stakingNow.minProviderStake,
      cooldownSeconds: stakingNow.cooldownSeconds,
      maxSlashBpsPerEvent: stakingNow.maxSlashBpsPerEvent,
      maxSlashBpsPerEpoch: stakingNow.maxSlashBpsPerEpoch,
      slashAuthority: publicKey(governance),
      newAdmin: publicKey(governance),
    }).sendAndConfirm(admin, finalized);
  }
  const escrowNow = await readEscrowConfig(rpc, ESCROW_PROGRAM_ID);
  if (escrowNow.admin === authorityKey.publicKey) {
    await updateEscrowConfig(admin, {
      admin: admin.identity,
      config: publicKey(escrowConfig),
      rewardVault: publicKey(escrowNow.rewardVault),
      treasury: publicKey(escrowNow.treasury),
      feeBps: escrowNow.feeBps,
      stakersShareBps: escrowNow.stakersShareBps,
      withdrawTimelockSeconds: escrowNow.withdrawTimelockSeconds,
      newAdmin: publicKey(governance),
    }).sendAndConfirm(admin, finalized);
  }
  return { escrow: ESCROW_PROGRAM_ID, escrowConfig, staking: STAKING_PROGRAM_ID, stakingConfig: staking.config, treasury, governance: GOVERNANCE_PROGRAM_ID, governanceConfig: governance };
}

/**
 * The settlement authority's lookup table: the one `previous` names when the chain has it with this
 * authority, else a new one holding the accounts every settle names.
 */
async function ensureSettlementTable(o: { rpcUrl: string; authority: TransactionSigner; previous: string | undefined }): Promise<string> {
  const rpc = solanaRpc(o.rpcUrl, { timeoutMs: 30_000 });
  if (o.previous) {
    const info = (await rpc.getAccountInfo(o.previous, 'finalized')).value;
    if (info && parseLookupTable(o.previous, info.data)?.authority === o.authority.publicKey) return o.previous;
  }
  const { address, instruction } = await createLookupTable({ authority: o.authority.publicKey, payer: o.authority.publicKey, recentSlot: BigInt(await rpc.getSlot('finalized')) });
  await sendAndFinalize(rpc, { instructions: [instruction], signers: [o.authority] });
  const addresses = settleFixedAccounts(await readEscrowConfig(rpc, ESCROW_PROGRAM_ID));
  await sendAndFinalize(rpc, { instructions: [extendLookupTable({ table: address, authority: o.authority.publicKey, payer: o.authority.publicKey, addresses })], signers: [o.authority] });
  return address;
}

/** config.json of an earlier run in `dir`, if any. */
async function previousConfig(dir: string): Promise<Partial<LocalChainConfig>> {
  try {
    return JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Partial<LocalChainConfig>;
  } catch {
    return {};
  }
}

const AUTHORITY_LAMPORTS = 100_000_000_000n;

/** Loads a key file, or makes and saves a new key when there is none. */
async function key(path: string): Promise<Keypair> {
  return (await loadOrCreateKeypair(path)).keypair;
}

/** Writes a file atomically with mode 0600. */
async function writePrivate(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

/** Creates what is missing and answers the chain configuration the Worker needs. */
export async function setupChain(o: { rpcUrl: string; dir: string }): Promise<LocalChainConfig> {
  await mkdir(o.dir, { recursive: true, mode: 0o700 });
  await chmod(o.dir, 0o700); // the chain may have made it first, or an older run wider
  const mintAuthority = await key(join(o.dir, 'mint-authority.json'));
  const custodyAuthority = await key(join(o.dir, 'custody-authority.json'));
  const mintKey = await key(join(o.dir, 'mint.json'));

  const umi = dougUmi(o.rpcUrl, mintAuthority.secretKey);
  await airdropUpTo(umi, mintAuthority.publicKey, AUTHORITY_LAMPORTS);
  await airdropUpTo(umi, custodyAuthority.publicKey, AUTHORITY_LAMPORTS);
  if (!(await umi.rpc.accountExists(publicKey(mintKey.publicKey), { commitment: 'finalized' }))) {
    await createDougMint(umi, { mint: signerOf(umi, mintKey.secretKey), mintAuthority: mintAuthority.publicKey, decimals: DOUG_DECIMALS });
  }
  const custodyTokenAccount = await ensureTokenAccount(dougUmi(o.rpcUrl, custodyAuthority.secretKey), { owner: custodyAuthority.publicKey, mint: mintKey.publicKey });

  const programs = await setupPrograms({ rpcUrl: o.rpcUrl, dir: o.dir, mint: mintKey.publicKey, custodyAuthority: custodyAuthority.publicKey });
  const slashProposer = await key(join(o.dir, 'slash-proposer.json'));
  // The verifier pays the fees of the slashes it proposes and executes.
  await airdropUpTo(umi, slashProposer.publicKey, AUTHORITY_LAMPORTS);
  const settlementTable = await ensureSettlementTable({ rpcUrl: o.rpcUrl, authority: await signerFromSecretKey(custodyAuthority.secretKey), previous: (await previousConfig(o.dir)).settlementTable });
  const config: LocalChainConfig = { rpcUrl: o.rpcUrl, mint: mintKey.publicKey, decimals: DOUG_DECIMALS, custodyTokenAccount, custodyAuthority: custodyAuthority.publicKey, programs, settlementTable, slashProposer: slashProposer.publicKey };
  await writePrivate(join(o.dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  await writePrivate(
    join(o.dir, 'worker.env'),
    `# Secrets for wrangler dev --env-file (written by scripts/chain-setup.ts; never commit)\nCUSTODY_AUTHORITY_KEY=${encodeBase58(custodyAuthority.secretKey)}\nMINT_AUTHORITY_KEY=${encodeBase58(mintAuthority.secretKey)}\nSLASH_PROPOSER_KEY=${encodeBase58(slashProposer.secretKey)}\n`,
  );
  return config;
}

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rpcUrl = flag('rpc');
  const dir = flag('dir');
  if (!rpcUrl || !dir) {
    process.stderr.write('usage: node --import tsx scripts/chain-setup.ts --rpc URL --dir DIR\n');
    process.exit(2);
  }
  try {
    process.stdout.write(JSON.stringify(await setupChain({ rpcUrl, dir })) + '\n');
  } catch (err) {
    process.stderr.write(`chain setup failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
