import { beforeEach, describe, expect, it } from 'vitest';
import { bps } from '../../durable-objects/domain/money.ts';
import { signerFromSecretKey, type TransactionSigner } from '../client/tx.ts';
import { programArtifacts } from '../build/artifacts.ts';
import { refusedWith } from '../testing/refusals.ts';
import { instructionsOf, noop, pk, umi } from '../testing/chain-world.ts';
import { escrowWorld, FEE_BPS, STAKERS_SHARE_BPS, TIMELOCK_S } from '../testing/escrow-world.ts';
import { cancelWithdrawalRequest, deposit, fetchEscrow, getDougEscrowErrorFromCode, openEscrow, requestWithdrawal, setAuthority, updateConfig } from './client/index.ts';
import { ESCROW_ERRORS, ESCROW_PROGRAM_ID, type EscrowErrorName } from './idl.ts';

const files = programArtifacts('escrow');
const world = escrowWorld;

/** The program's refusal: the transaction fails with the IDL's error code. */
const refused = (attempt: Promise<unknown>, name: EscrowErrorName) => refusedWith(attempt, ESCROW_ERRORS, name);

describe('escrow program: configuration', () => {
  let w: Awaited<ReturnType<typeof world>>;
  beforeEach(async () => {
    w = await world();
  });

  it('is created once, by its admin, within bounds', async () => {
    await refused(w.init({ feeBps: 2_001 }), 'invalidParameter');
    await refused(w.init({ stakersShareBps: 10_001 }), 'invalidParameter');
    await refused(w.init({ timelock: 59n }), 'invalidParameter');
    await refused(w.init({ timelock: BigInt(30 * 86_400 + 1) }), 'invalidParameter');
    await w.init();
    const config = await w.config();
    expect(config.feeBps).toBe(FEE_BPS);
    expect(config.stakersShareBps).toBe(STAKERS_SHARE_BPS);
    expect(config.withdrawTimelockSeconds).toBe(BigInt(TIMELOCK_S));
    expect(config.admin.toString()).toBe(w.admin.publicKey);
    expect(config.authority.toString()).toBe(w.authority.key);
    expect(config.mint.toString()).toBe(w.mint.publicKey);
    await refused(w.init(), 'alreadyInitialized');
  });

  it('changes only by its admin; the authority rotates only by itself', async () => {
    await w.init();
    const stranger = await w.wallet();
    const update = (signer: TransactionSigner, feeBps: number) =>
      w.send(
        instructionsOf(
          updateConfig(umi, { admin: noop(signer.publicKey), rewardVault: pk(w.rewardVault.ata), treasury: pk(w.treasury.ata), feeBps, stakersShareBps: 5_000, withdrawTimelockSeconds: 600n, newAdmin: pk(w.admin.publicKey) }),
        ),
        [signer],
      );
    await refused(update(stranger.signer, 100), 'notAdmin');
    await refused(update(w.admin, 2_001), 'invalidParameter');
    await update(w.admin, 100);
    expect((await w.config()).feeBps).toBe(100);

    const next = await w.wallet();
    await refused(w.send(instructionsOf(setAuthority(umi, { authority: noop(w.admin.publicKey), newAuthority: pk(next.key) })), [w.admin]), 'notAuthority');
    await w.send(instructionsOf(setAuthority(umi, { authority: noop(w.authority.key), newAuthority: pk(next.key) })), [w.authority.signer]);
    expect((await w.config()).authority.toString()).toBe(next.key);
  });
});

describe('escrow program: deposit and settle', () => {
  let w: Awaited<ReturnType<typeof world>>;
  beforeEach(async () => {
    w = await world();
    await w.init();
  });

  it('pays each provider its net, the stakers’ share of the fees through the staking program, the rest to the treasury, as the ledger computes them', async () => {
    await w.staker(1_000n);
    const b = await w.buyer(1_000_000n);
    const [p1, p2] = [await w.wallet(), await w.wallet()];
    expect(w.balance(b.vault)).toBe(1_000_000n);
    const payouts = [
      { provider: 0, gross: 100_003n },
      { provider: 1, gross: 50_001n },
      { provider: 0, gross: 199n },
    ];
    const tx = await w.send(w.settleIxs(b, { batch: 0n, payouts, providers: [p1.ata, p2.ata] }), [w.authority.signer]);
    expect(tx.meta.err).toBeNull();
    // The ledger's rule (domain/money.ts bps): each payout's fee is floored on its own.
    const fee = (g: bigint) => bps(g, FEE_BPS);
    const fees = payouts.reduce((s, p) => s + fee(p.gross), 0n);
    expect(w.balance(p1.ata)).toBe(100_003n - fee(100_003n) + 199n - fee(199n));
    expect(w.balance(p2.ata)).toBe(50_001n - fee(50_001n));
    expect(w.balance(w.rewardVault.ata)).toBe(bps(fees, STAKERS_SHARE_BPS));
    expect(w.balance(w.treasury.ata)).toBe(fees - bps(fees, STAKERS_SHARE_BPS));
    // The staking program counted the share in its accumulator.
    expect((await w.stakingTotals()).feesToStakers).toBe(bps(fees, STAKERS_SHARE_BPS));
    const gross = 100_003n + 50_001n + 199n;
    expect(w.balance(b.vault)).toBe(1_000_000n - gross);
    // Conservation: what left the vault is exactly what arrived.
    expect(w.balance(p1.ata) + w.balance(p2.ata) + w.balance(w.rewardVault.ata) + w.balance(w.treasury.ata)).toBe(gross);
    const escrow = await fetchEscrow(w.reader, pk(b.escrow));
    expect(escrow.nextBatch).toBe(1n);
    expect(escrow.settledTotal).toBe(gross);
    expect([...escrow.lastReceiptsHash]).toEqual(new Array(32).fill(1));
    expect(escrow.buyer.toString()).toBe(b.key);
  });

  it('sends the whole fee to the treasury while nothing is staked', async () => {
    const b = await w.buyer(1_000n);
    const p = await w.wallet();
    await w.send(w.settleIxs(b, { batch: 0n, payouts: [{ provider: 0, gross: 800n }], providers: [p.ata] }), [w.authority.signer]);
    expect(w.balance(w.treasury.ata)).toBe(bps(800n, FEE_BPS));
    expect(w.balance(w.rewardVault.ata)).toBe(0n);
    expect((await w.stakingTotals()).feesToTreasury).toBe(bps(bps(800n, FEE_BPS), STAKERS_SHARE_BPS));
  });

  it('refuses a replayed or a skipped batch, and changes nothing', async () => {
    const b = await w.buyer(1_000n);
    const p = await w.wallet();
    const one = { payouts: [{ provider: 0, gross: 100n }], providers: [p.ata] };
    await w.send(w.settleIxs(b, { batch: 0n, ...one }), [w.authority.signer]);
    await refused(w.send(w.settleIxs(b, { batch: 0n, ...one }), [w.authority.signer]), 'batchOutOfOrder');
    await refused(w.send(w.settleIxs(b, { batch: 2n, ...one }), [w.authority.signer]), 'batchOutOfOrder');
    expect(w.balance(b.vault)).toBe(900n);
    await w.send(w.settleIxs(b, { batch: 1n, ...one }), [w.authority.signer]);
    expect(w.balance(b.vault)).toBe(800n);
  });

  it('refuses a batch priced at another fee than the configuration’s (governance changed it meanwhile), and changes nothing', async () => {
    const b = await w.buyer(1_000n);
    const p = await w.wallet();
    const one = { batch: 0n, payouts: [{ provider: 0, gross: 100n }], providers: [p.ata] };
    for (const feeBps of [FEE_BPS - 1, FEE_BPS + 1, 0]) await refused(w.send(w.settleIxs(b, { ...one, feeBps }), [w.authority.signer]), 'feeChanged');
    expect(w.balance(b.vault)).toBe(1_000n);
    await w.send(w.settleIxs(b, { ...one, feeBps: FEE_BPS }), [w.authority.signer]);
    expect(w.balance(b.vault)).toBe(900n);
  });

  it('never pays the settlement authority, never more than the escrow holds, and only on the authority’s signature', async () => {
    const b = await w.buyer(1_000n);
    const p = await w.wallet();
    await refused(w.send(w.settleIxs(b, { batch: 0n, payouts: [{ provider: 0, gross: 10n }], providers: [w.authority.ata] }), [w.authority.signer]), 'payeeIsAuthority');
    await refused(w.send(w.settleIxs(b, { batch: 0n, payouts: [{ provider: 0, gross: 600n }, { provider: 0, gross: 401n }], providers: [p.ata] }), [w.authority.signer]), 'insufficientFunds');
    await refused(w.send(w.settleIxs(b, { batch: 0n, payouts: [{ provider: 0, gross: 10n }], providers: [p.ata], by: p.key }), [p.signer]), 'notAuthority');
    // The authority's key named but not signing (a transaction signed by someone else).
    const unsigned = w.settleIxs(b, { batch: 0n, payouts: [{ provider: 0, gross: 10n }], providers: [p.ata] });
    unsigned[0]!.keys[0]!.isSigner = false;
    await refused(w.send(unsigned, [p.signer]), 'missingSigner');
    await refused(w.send(w.settleIxs(b, { batch: 0n, payouts: [{ provider: 0, gross: 10n }], providers: [p.ata], rewardVault: p.ata }), [w.authority.signer]), 'wrongFeeAccount');
    const otherStaking = w.settleIxs(b, { batch: 0n, payouts: [{ provider: 0, gross: 10n }], providers: [p.ata] });
    otherStaking[0]!.keys[8]!.pubkey = p.key; // not the staking program the configuration names
    await refused(w.send(otherStaking, [w.authority.signer]), 'wrongProgram');
    await refused(w.send(w.settleIxs(b, { batch: 0n, payouts: [{ provider: 1, gross: 10n }], providers: [p.ata] }), [w.authority.signer]), 'invalidInstruction');
    await refused(w.send(w.settleIxs(b, { batch: 0n, payouts: [{ provider: 0, gross: 0n }], providers: [p.ata] }), [w.authority.signer]), 'zeroAmount');
    await refused(w.send(w.settleIxs(b, { batch: 0n, payouts: [], providers: [p.ata] }), [w.authority.signer]), 'emptyBatch');
    expect(w.balance(b.vault)).toBe(1_000n);
    expect(w.balance(p.ata)).toBe(0n);
  });

  it('refuses amounts that overflow 64 bits', async () => {
    const b = await w.buyer(1_000n);
    const p = await w.wallet();
    await refused(w.send(w.settleIxs(b, { batch: 0n, payouts: [{ provider: 0, gross: 2n ** 63n }, { provider: 0, gross: 2n ** 63n }], providers: [p.ata] }), [w.authority.signer]), 'overflow');
    await refused(w.send(w.settleIxs(b, { batch: 0n, payouts: [{ provider: 0, gross: 2n ** 64n - 1n }], providers: [p.ata] }), [w.authority.signer]), 'insufficientFunds');
  });

  it('checks every account: another buyer’s escrow, a vault that is not the escrow’s, a token account of another mint', async () => {
    const [a, b] = [await w.buyer(1_000n), await w.buyer(1_000n)];
    const p = await w.wallet();
    await refused(w.send(w.settleIxs({ ...a, vault: b.vault }, { batch: 0n, payouts: [{ provider: 0, gross: 10n }], providers: [p.ata] }), [w.authority.signer]), 'wrongAddress');
    // An account this program does not own, passed as the escrow.
    await refused(w.send(w.settleIxs({ ...a, escrow: p.ata }, { batch: 0n, payouts: [{ provider: 0, gross: 10n }], providers: [p.ata] }), [w.authority.signer]), 'wrongOwner');
    // A deposit into someone else's escrow is refused: only its buyer moves tokens in.
    await refused(w.send(instructionsOf(deposit(umi, { buyer: noop(b.key), escrow: pk(a.escrow), buyerTokenAccount: pk(b.ata), vault: pk(a.vault), mint: pk(w.mint.publicKey), amount: 1n })), [b.signer]), 'notBuyer');
    // A settle whose provider account is not a token account of the escrow's mint.
    await refused(w.send(w.settleIxs(a, { batch: 0n, payouts: [{ provider: 0, gross: 10n }], providers: [a.escrow] }), [w.authority.signer]), 'wrongMint');
  });
});

describe('escrow program: opening', () => {
  it('opens an escrow whose address someone has already sent lamports to (no one can block a buyer with a transfer)', async () => {
    const w = await world();
    await w.init();
    const buyer = await w.wallet(1_000n);
    const { escrow, vault } = await w.addresses(buyer.key);
    // A system Transfer to each address the program will create (enough for an empty account to exist).
    const lamports = w.chain.minimumBalanceForRentExemption(0);
    const transfer = (to: string) => {
      const data = new Uint8Array(12);
      data[0] = 2;
      new DataView(data.buffer).setBigUint64(4, lamports, true);
      return { programId: '11111111111111111111111111111111', keys: [{ pubkey: buyer.key, isSigner: true, isWritable: true }, { pubkey: to, isSigner: false, isWritable: true }], data };
    };
    await w.send([transfer(escrow), transfer(vault)], [buyer.signer]);
    await w.send(instructionsOf(openEscrow(umi, { buyer: noop(buyer.key), vault: pk(vault), mint: pk(w.mint.publicKey) })), [buyer.signer]);
    await w.send(instructionsOf(deposit(umi, { buyer: noop(buyer.key), buyerTokenAccount: pk(buyer.ata), vault: pk(vault), mint: pk(w.mint.publicKey), amount: 1_000n })), [buyer.signer]);
    expect(w.balance(vault)).toBe(1_000n);
    expect((await fetchEscrow(w.reader, pk(escrow))).buyer.toString()).toBe(buyer.key);
  });
});

describe('escrow program: withdrawals', () => {
  let w: Awaited<ReturnType<typeof world>>;
  beforeEach(async () => {
    w = await world();
    await w.init();
  });

  it('is immediate when the buyer and the authority sign together', async () => {
    const b = await w.buyer(1_000n);
    await w.send(w.withdrawIxs(b, 400n, true), [b.signer, w.authority.signer]);
    expect(w.balance(b.vault)).toBe(600n);
    expect(w.balance(b.ata)).toBe(400n);
  });

  it('lets the buyer alone leave after the timelock of a request, with everything not settled', async () => {
    const b = await w.buyer(1_000n);
    const p = await w.wallet();
    await refused(w.send(w.withdrawIxs(b, 1n, false), [b.signer]), 'noWithdrawalRequested');
    await w.send(instructionsOf(requestWithdrawal(umi, { buyer: noop(b.key) })), [b.signer]);
    // Settlement goes on during the timelock (jobs already running are paid).
    await w.send(w.settleIxs(b, { batch: 0n, payouts: [{ provider: 0, gross: 300n }], providers: [p.ata] }), [w.authority.signer]);
    w.advance(TIMELOCK_S - 10);
    await refused(w.send(w.withdrawIxs(b, 700n, false), [b.signer]), 'timelockNotElapsed');
    // Asking again does not restart the clock.
    await w.send(instructionsOf(requestWithdrawal(umi, { buyer: noop(b.key) })), [b.signer]);
    w.advance(10);
    await refused(w.send(w.withdrawIxs(b, 701n, false), [b.signer]), 'insufficientFunds');
    await w.send(w.withdrawIxs(b, 700n, false), [b.signer]);
    expect(w.balance(b.ata)).toBe(700n);
    expect(w.balance(b.vault)).toBe(0n);
  });

  it('forgets a cancelled request, and pays only the buyer', async () => {
    const b = await w.buyer(1_000n);
    const other = await w.wallet();
    await w.send(instructionsOf(requestWithdrawal(umi, { buyer: noop(b.key) })), [b.signer]);
    await w.send(instructionsOf(cancelWithdrawalRequest(umi, { buyer: noop(b.key) })), [b.signer]);
    w.advance(TIMELOCK_S + 1);
    await refused(w.send(w.withdrawIxs(b, 1n, false), [b.signer]), 'noWithdrawalRequested');
    await refused(w.send(w.withdrawIxs({ ...b, ata: other.ata }, 1n, true), [b.signer, w.authority.signer]), 'notBuyer');
    await refused(w.send(instructionsOf(requestWithdrawal(umi, { buyer: noop(other.key), escrow: pk(b.escrow) })), [other.signer]), 'notBuyer');
    expect(w.balance(b.vault)).toBe(1_000n);
  });
});

describe('escrow program: its interface', () => {
  it('maps every error code of the IDL to the generated client’s error', () => {
    for (const [code, name] of ESCROW_ERRORS) {
      const error = getDougEscrowErrorFromCode(code, { publicKey: pk(ESCROW_PROGRAM_ID), name: 'dougEscrow' } as never);
      expect(error?.name).toBe(name[0]!.toUpperCase() + name.slice(1));
    }
  });

  it('is deployed at the program id the IDL names', async () => {
    expect((await signerFromSecretKey(files.keypair)).publicKey).toBe(ESCROW_PROGRAM_ID);
  });
});
