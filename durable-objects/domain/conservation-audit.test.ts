import { describe, expect, it } from 'vitest';
import { auditLedger, custodyVerdict, escrowVerdict, type LedgerFigures } from './conservation.ts';
import { FEE_POOL_ACCOUNT } from './params.ts';

const account = (id: string, o: Partial<LedgerFigures> = {}): LedgerFigures => ({ id, available: 0n, held: 0n, credited: 0n, withdrawn: 0n, sent: 0n, received: 0n, onChain: 0n, escrow: false, ...o });

describe('the conservation audit', () => {
  // A buyer deposited 100, holds 10, settled 60 (50 to a provider, 10 to the fee pool; the provider
  // has received its 50, the fee pool's 10 is still on its way), and withdrew 0.
  const world = [
    account('buyer', { credited: 100n, available: 30n, held: 10n, sent: 60n }),
    account('provider', { received: 50n, available: 30n, withdrawn: 20n }),
    account(FEE_POOL_ACCOUNT),
  ];
  it('balances when every account balances and payouts in flight are counted', () => {
    const a = auditLedger(world);
    expect(a).toMatchObject({ ok: true, accounts: 3, inFlight: 10n, violations: [], credited: 100n, withdrawn: 20n });
  });
  it('names an account whose own identity fails, or whose balance is negative', () => {
    expect(auditLedger([...world.slice(1), account('buyer', { credited: 100n, available: 31n, held: 10n, sent: 60n })]).violations).toEqual(['buyer']);
    expect(auditLedger([account('x', { credited: 0n, available: -5n, held: 5n })]).violations).toEqual(['x']);
  });
  it('fails when money appears or vanishes across accounts even if each balances alone', () => {
    // An account received more payouts than were ever sent: each identity holds, the sum does not.
    const a = auditLedger([...world, account('ghost', { received: 11n, available: 11n })]);
    expect(a.violations).toEqual([]);
    expect(a.ok).toBe(false);
  });
  it('reports the fee pool', () => {
    expect(auditLedger([account(FEE_POOL_ACCOUNT, { received: 9n, available: 9n }), account('b', { credited: 9n, sent: 9n })]).feePool).toBe(9n);
  });
});

describe('the conservation audit with escrow-funded accounts', () => {
  // An escrow buyer deposited 100 into its escrow, holds 10, and settled 60 on chain (gross, fee
  // included); a custody buyer beside it deposited 40 and sent 15 to a provider's ledger.
  const world = [
    account('escrow-buyer', { escrow: true, credited: 100n, available: 30n, held: 10n, onChain: 60n }),
    account('custody-buyer', { credited: 40n, available: 25n, sent: 15n }),
    account('provider', { received: 15n, available: 15n }),
  ];
  it('counts what left the ledger for the chain, and what the ledger keeps for escrows', () => {
    expect(auditLedger(world)).toMatchObject({ ok: true, onChain: 60n, escrowed: 40n, inFlight: 0n, violations: [] });
  });
  it('names an escrow account whose payouts on chain do not add up', () => {
    const a = auditLedger([account('escrow-buyer', { escrow: true, credited: 100n, available: 30n, held: 10n, onChain: 59n }), ...world.slice(1)]);
    expect(a.violations).toEqual(['escrow-buyer']);
    expect(a.ok).toBe(false);
  });
  it('fails when money paid on chain is also still in the ledger', () => {
    // Each identity holds, but 60 is counted as paid on chain and as received by a ledger account.
    const a = auditLedger([...world, account('ghost', { received: 60n, available: 60n })]);
    expect(a.violations).toEqual([]);
    expect(a.ok).toBe(false);
  });
});

describe('the escrow program against the ledger', () => {
  const base = { vaults: 60n, escrowed: 40n, pending: 20n, withdrawalsInFlight: 0n, rewardVault: 7n, feesToStakers: 10n, claimed: 3n };
  it('needs the vaults to hold what the ledger keeps for escrows plus pending payouts; more is unclaimed', () => {
    expect(escrowVerdict(base)).toEqual({ expected: 60n, unclaimed: 0n, rewardsOwed: 7n, ok: true });
    expect(escrowVerdict({ ...base, vaults: 65n })).toEqual({ expected: 60n, unclaimed: 5n, rewardsOwed: 7n, ok: true });
    expect(escrowVerdict({ ...base, vaults: 59n }).ok).toBe(false);
  });
  it('counts a co-signed withdrawal not landed yet as still in the vaults (found by the chaos suite)', () => {
    // The ledger gave 5 out (escrowed is 35 now); the vault keeps it until the buyer sends the withdraw.
    const inFlight = { ...base, escrowed: 35n, withdrawalsInFlight: 5n };
    expect(escrowVerdict(inFlight)).toEqual({ expected: 60n, unclaimed: 0n, rewardsOwed: 7n, ok: true });
    expect(escrowVerdict({ ...inFlight, vaults: 55n }).ok).toBe(false);
  });
  it('needs the reward vault to hold exactly the fees shared less the claims', () => {
    expect(escrowVerdict({ ...base, rewardVault: 8n }).ok).toBe(false);
    expect(escrowVerdict({ ...base, rewardVault: 6n }).ok).toBe(false);
  });
});

describe('custody against the ledger', () => {
  it('must hold what the ledger owes plus withdrawals in flight; more is unclaimed', () => {
    expect(custodyVerdict({ onChain: 150n, ledgerOwes: 100n, withdrawalsInFlight: 20n })).toEqual({ expected: 120n, unclaimed: 30n, ok: true });
    expect(custodyVerdict({ onChain: 120n, ledgerOwes: 100n, withdrawalsInFlight: 20n })).toEqual({ expected: 120n, unclaimed: 0n, ok: true });
    expect(custodyVerdict({ onChain: 119n, ledgerOwes: 100n, withdrawalsInFlight: 20n })).toEqual({ expected: 120n, unclaimed: 0n, ok: false });
  });
});
