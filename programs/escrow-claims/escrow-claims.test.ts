import { readFileSync } from 'node:fs';
import { beforeEach, describe, expect, it } from 'vitest';
import { bps } from '../../durable-objects/domain/money.ts';
import { escrowConfigAddress } from '../client/program-addresses.ts';
import { createAssociatedTokenAccountIdempotent } from '../client/mint.ts';
import { fetchEscrow } from '../escrow/client/index.ts';
import { ESCROW_ERRORS, type EscrowErrorName } from '../escrow/idl.ts';
import { pk } from '../testing/chain-world.ts';
import { escrowWorld, FEE_BPS, STAKERS_SHARE_BPS, type EscrowWorld } from '../testing/escrow-world.ts';
import { refusedWith } from '../testing/refusals.ts';
import { claim, claimAddress, claimBalance, claimsVaultAddress, openClaim, settleClaims } from './claims.ts';

// Settlement design B, the benchmark's alternative (escrow-claims.c): its rules hold before its figures count.
const build = new Uint8Array(readFileSync(new URL('./escrow-claims.so', import.meta.url)));
const refused = (attempt: Promise<unknown>, name: EscrowErrorName) => refusedWith(attempt, ESCROW_ERRORS, name);

describe('settlement design B: claim balances credited by the batch, withdrawn by a claim', () => {
  let w: EscrowWorld;
  let claimsVault: string;
  beforeEach(async () => {
    w = await escrowWorld({ escrowBuild: build });
    await w.init();
    claimsVault = await claimsVaultAddress(w.mint.publicKey);
    await w.send([createAssociatedTokenAccountIdempotent({ payer: w.admin.publicKey, tokenAccount: claimsVault, owner: await escrowConfigAddress(), mint: w.mint.publicKey })], [w.admin]);
  });

  const providersWithClaims = async (n: number) => {
    const providers = await Promise.all(Array.from({ length: n }, () => w.wallet()));
    for (const p of providers) await w.send([await openClaim({ payer: p.key, tokenAccount: p.ata })], [p.signer]);
    return Promise.all(providers.map(async (p) => ({ ...p, claim: await claimAddress(p.ata) })));
  };
  const balanceOf = (address: string) => claimBalance(w.chain.getAccount(address)!.data);

  it('credits each provider’s net, moves the nets to the claims vault and the fees as settle does; a claim pays once, to its own token account', async () => {
    const b = await w.buyer(10_000n);
    await w.staker(1_000n);
    const [p0, p1] = await providersWithClaims(2);
    const payouts = [
      { provider: 0, gross: 1_000n },
      { provider: 1, gross: 2_001n },
      { provider: 0, gross: 499n },
    ];
    const [settle] = w.settleIxs(b, { batch: 0n, payouts, providers: [p0!.claim, p1!.claim] });
    await w.send([settleClaims(settle!, claimsVault)], [w.authority.signer]);
    const net = (gross: bigint) => gross - bps(gross, FEE_BPS);
    expect(balanceOf(p0!.claim)).toBe(net(1_000n) + net(499n));
    expect(balanceOf(p1!.claim)).toBe(net(2_001n));
    const fees = payouts.reduce((s, p) => s + bps(p.gross, FEE_BPS), 0n);
    expect(w.balance(claimsVault)).toBe(3_500n - fees);
    expect(w.balance(w.rewardVault.ata)).toBe(bps(fees, STAKERS_SHARE_BPS));
    expect(w.balance(w.treasury.ata)).toBe(fees - bps(fees, STAKERS_SHARE_BPS));
    expect(w.balance(b.vault)).toBe(10_000n - 3_500n);
    expect((await fetchEscrow(w.reader, pk(b.escrow))).nextBatch).toBe(1n);

    // Anyone may crank a claim; it pays the token account the claim names, once.
    await w.send([await claim({ tokenAccount: p0!.ata, mint: w.mint.publicKey })], [w.admin]);
    expect(w.balance(p0!.ata)).toBe(net(1_000n) + net(499n));
    expect(balanceOf(p0!.claim)).toBe(0n);
    await refused(w.send([await claim({ tokenAccount: p0!.ata, mint: w.mint.publicKey })], [w.admin]), 'zeroAmount');
    const elsewhere = await claim({ tokenAccount: p1!.ata, mint: w.mint.publicKey });
    elsewhere.keys[1] = { ...elsewhere.keys[1]!, pubkey: p0!.ata };
    await refused(w.send([elsewhere], [w.admin]), 'wrongAddress');
    expect(w.balance(claimsVault)).toBe(net(2_001n));
  });

  it('keeps the escrow’s rules: numbered batches, no more than the vault, no claim for the authority, no account but a claim, the claims vault only', async () => {
    const b = await w.buyer(1_000n);
    const [p0] = await providersWithClaims(1);
    const settle = (batch: bigint, gross: bigint, account = p0!.claim, vault = claimsVault) =>
      w.send([settleClaims(w.settleIxs(b, { batch, payouts: [{ provider: 0, gross }], providers: [account] })[0]!, vault)], [w.authority.signer]);
    await refused(settle(1n, 100n), 'batchOutOfOrder');
    await refused(settle(0n, 1_001n), 'insufficientFunds');
    await refused(settle(0n, 100n, p0!.ata), 'wrongAddress');
    await refused(settle(0n, 100n, p0!.claim, p0!.ata), 'wrongAddress');
    await settle(0n, 100n);
    await refused(settle(0n, 100n), 'batchOutOfOrder');
    const authorityWallet = await w.wallet();
    await w.send([createAssociatedTokenAccountIdempotent({ payer: w.admin.publicKey, tokenAccount: w.authority.ata, owner: w.authority.key, mint: w.mint.publicKey })], [w.admin]);
    await refused(w.send([await openClaim({ payer: authorityWallet.key, tokenAccount: w.authority.ata })], [authorityWallet.signer]), 'payeeIsAuthority');
    await refused(w.send([await openClaim({ payer: p0!.key, tokenAccount: p0!.ata })], [p0!.signer]), 'alreadyInitialized');
  });
});
