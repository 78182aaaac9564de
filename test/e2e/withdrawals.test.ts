import { createAssociatedTokenAccountIdempotentInstruction, createTransferCheckedInstruction, getAccount, getAssociatedTokenAddressSync } from '@solana/spl-token';
import { Connection, Keypair as Web3Keypair, PublicKey, Transaction, sendAndConfirmTransaction } from '@solana/web3.js';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { WithdrawalWire } from '../../durable-objects/contracts/api.ts';
import { generateKeypair } from '../../durable-objects/contracts/auth.ts';
import { UNITS_PER_DOUG } from '../../durable-objects/domain/money.ts';
import { startLocalChain, type LocalChain } from '../../programs/local-chain/server.ts';
import { DougApiError, DougClient } from '../../sdk/client.ts';
import { faucetAndDeposit } from '../../sdk/deposit.ts';
import { loadKeypair } from '../../sdk/keyfile.ts';
import { eventually } from './agents.ts';
import { signatureOf, startRpcProxy, type RpcProxy } from './rpc-proxy.ts';
import { startStack, type Stack, type StackChain } from './stack.ts';

/*
 * Withdrawals end to end: `npm start`'s stack (wrangler dev, the Worker, its objects, D1, queues),
 * with the local chain in this process (so the test can move it past blockhash lifetimes) and the
 * Worker's RPC behind a proxy that fails, hangs, swallows and lags on command. Chain setup, the
 * faucet's deposits and every check of the chain go to the chain directly; only the Worker's calls
 * meet the faults. What the chain itself says is the final word in every test.
 */

const DOUG = UNITS_PER_DOUG;

let local: LocalChain;
let proxy: RpcProxy;
let stack: Stack;
let chain: StackChain;
let connection: Connection;
let reader: DougClient;

beforeAll(async () => {
  local = await startLocalChain({ port: 0 });
  proxy = await startRpcProxy(local.url);
  stack = await startStack({ agents: 0, chainUrl: local.url, workerRpcUrl: proxy.url, custody: 'token-account' });
  chain = stack.chain()!;
  connection = new Connection(local.url, 'confirmed');
  reader = new DougClient({ baseUrl: stack.url });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await proxy?.stop();
  await local?.stop();
}, 60_000);

beforeEach(() => proxy.clear());

/** A wallet whose ledger holds `amount`, deposited through the chain (faucet mint, transfer, POST /v1/deposits). */
async function fundedWallet(amount: bigint) {
  const key = await generateKeypair();
  const client = new DougClient({ baseUrl: stack.url, keypair: key });
  await faucetAndDeposit(client, key, amount);
  expect((await client.account()).available).toBe(amount.toString());
  return { key, client };
}

/** Polls the withdrawal until it is closed (paid, refunded or rejected). */
async function closed(id: string, timeoutMs = 120_000): Promise<WithdrawalWire> {
  return eventually(
    async () => {
      const w = await reader.withdrawal(id);
      return w.status === 'requested' || w.status === 'funded' ? null : w;
    },
    `withdrawal ${id} to close`,
    timeoutMs,
    stack.log,
  );
}

async function tokenBalance(wallet: string): Promise<bigint> {
  try {
    return (await getAccount(connection, getAssociatedTokenAddressSync(new PublicKey(chain.mint), new PublicKey(wallet)), 'finalized')).amount;
  } catch {
    return 0n;
  }
}

/** Successful transactions on chain that carry the withdrawal's memo. */
async function landedTransfers(id: string): Promise<string[]> {
  const sigs = await connection.getSignaturesForAddress(new PublicKey(chain.custodyTokenAccount), { limit: 1000 }, 'finalized');
  return sigs.filter((s) => s.err === null && s.memo?.includes(`doug:withdrawal:${id}`)).map((s) => s.signature);
}

describe('a withdrawal under an RPC that fails or times out between send and confirm', () => {
  it('is paid exactly once', async () => {
    const { client } = await fundedWallet(10n * DOUG);
    const destination = (await generateKeypair()).publicKey;
    // The first send reaches the chain and its answer never comes (the Worker times out); the second
    // reaches it and answers 502; status reads hang, fail, then lag (not found) for a while.
    proxy.fault({ method: 'sendTransaction', mode: 'forward-hang', times: 1 });
    proxy.fault({ method: 'sendTransaction', mode: 'forward-error', times: 1 });
    proxy.fault({ method: 'getEpochInfo', mode: 'hang', times: 1 });
    proxy.fault({ method: 'getSignatureStatuses', mode: 'error', times: 2 });
    proxy.fault({ method: 'getSignatureStatuses', mode: 'not-found', times: 3 });
    const accepted = await client.withdraw({ amount: 3n * DOUG, destination, clientId: 'flaky-rpc' });
    expect(accepted).toMatchObject({ status: 'funded', amount: (3n * DOUG).toString(), destination });
    expect((await client.account()).available).toBe((7n * DOUG).toString());

    const w = await closed(accepted.withdrawalId);
    expect(w.status).toBe('paid');
    const landed = await landedTransfers(w.withdrawalId);
    expect(landed).toHaveLength(1);
    expect(w.signature).toBe(landed[0]);
    expect(w.attempts).toMatchObject([{ signature: landed[0], status: 'finalized' }]);
    expect(await tokenBalance(destination)).toBe(3n * DOUG);
    const account = await client.account();
    expect(account.available).toBe((7n * DOUG).toString());
    expect(account.withdrawn).toBe((3n * DOUG).toString());
    // The faults happened: the same transaction reached the chain more than once, and landed once.
    expect(proxy.faults.sendTransaction).toBe(2);
    expect(proxy.faults.getSignatureStatuses).toBe(5);
    expect(proxy.forwardedSends.filter((s) => signatureOf(s) === landed[0]).length).toBeGreaterThanOrEqual(2);

    // Asked again with the same clientId: the same withdrawal, nothing more moves.
    const again = await client.withdraw({ amount: 3n * DOUG, destination, clientId: 'flaky-rpc' });
    expect(again).toMatchObject({ withdrawalId: w.withdrawalId, status: 'paid', signature: landed[0] });
    expect(await tokenBalance(destination)).toBe(3n * DOUG);
    expect((await client.account()).withdrawn).toBe((3n * DOUG).toString());
    const listed = await eventually(async () => (await reader.withdrawals(client.accountKey)).items.find((x) => x.status === 'paid'), 'the paid withdrawal in the list');
    expect(listed.withdrawalId).toBe(w.withdrawalId);
  });

  it('re-signs only after the first attempt is proven expired, and pays once', async () => {
    const { client } = await fundedWallet(5n * DOUG);
    const destination = (await generateKeypair()).publicKey;
    // Every send is accepted and dropped until the first attempt is known; then only its sends are.
    proxy.fault({ method: 'sendTransaction', mode: 'swallow', times: Infinity });
    const accepted = await client.withdraw({ amount: 2n * DOUG, destination });
    const first = await eventually(async () => {
      const w = await reader.withdrawal(accepted.withdrawalId);
      return (w.attempts[0]?.sends ?? 0) >= 1 ? w.attempts[0] : null;
    }, 'the first attempt sent');
    proxy.clear();
    proxy.fault({ method: 'sendTransaction', mode: 'swallow', times: Infinity, when: (p) => signatureOf(String(p[0])) === first!.signature });
    // Resent, never replaced while it could land.
    await eventually(async () => ((await reader.withdrawal(accepted.withdrawalId)).attempts[0]?.sends ?? 0) >= 2, 'a resend of the first attempt');
    expect((await reader.withdrawal(accepted.withdrawalId)).attempts).toHaveLength(1);
    local.expireBlockhash();

    const w = await closed(accepted.withdrawalId);
    expect(w.status).toBe('paid');
    expect(w.attempts.map((a) => a.status)).toEqual(['expired', 'finalized']);
    expect(w.attempts[0]!.signature).toBe(first!.signature);
    const landed = await landedTransfers(w.withdrawalId);
    expect(landed).toEqual([w.attempts[1]!.signature]);
    expect((await connection.getSignatureStatus(first!.signature, { searchTransactionHistory: true })).value).toBeNull();
    expect(await tokenBalance(destination)).toBe(2n * DOUG);
    expect((await client.account()).withdrawn).toBe((2n * DOUG).toString());
  });

  it('survives a restart of the Worker with an attempt signed and sent but not landed: the recorded one lands, once', async () => {
    const { client } = await fundedWallet(3n * DOUG);
    const destination = (await generateKeypair()).publicKey;
    proxy.fault({ method: 'sendTransaction', mode: 'swallow', times: Infinity });
    const accepted = await client.withdraw({ amount: DOUG, destination });
    const first = await eventually(async () => {
      const w = await reader.withdrawal(accepted.withdrawalId);
      return (w.attempts[0]?.sends ?? 0) >= 1 ? w.attempts[0] : null;
    }, 'the first attempt sent');
    // wrangler dev's local queue drops projection messages not yet consumed when it stops (a
    // deployment's queue keeps them), and the objects do not send them again: let the read models
    // catch up first, or the audit below would see stale rows.
    await eventually(async () => (await reader.withdrawals(client.accountKey)).items.find((x) => x.withdrawalId === accepted.withdrawalId && (x.attempts[0]?.sends ?? 0) >= 1), 'the projected withdrawal');
    await stack.restart();
    proxy.clear();
    const w = await closed(accepted.withdrawalId);
    expect(w.status).toBe('paid');
    const landed = await landedTransfers(w.withdrawalId);
    expect(landed).toHaveLength(1);
    expect(w.signature).toBe(landed[0]);
    // The attempt recorded before the restart is the one that landed (unless it outlived its
    // blockhash meanwhile, which the chain must then have proven).
    expect(w.attempts[0]!.signature).toBe(first!.signature);
    for (const a of w.attempts.slice(0, -1)) expect(a.status).toBe('expired');
    expect(await tokenBalance(destination)).toBe(DOUG);
    expect((await client.account()).withdrawn).toBe(DOUG.toString());
  });

  it('is refused with ACCOUNT__INSUFFICIENT_FUNDS beyond the balance, and nothing is sent', async () => {
    const { client } = await fundedWallet(DOUG);
    const before = { blockhash: proxy.calls.getLatestBlockhash ?? 0, send: proxy.calls.sendTransaction ?? 0 };
    const err = await client.withdraw({ amount: 2n * DOUG }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DougApiError);
    expect(err).toMatchObject({ status: 402, code: 'ACCOUNT__INSUFFICIENT_FUNDS' });
    await new Promise((r) => setTimeout(r, 1_000));
    expect({ blockhash: proxy.calls.getLatestBlockhash ?? 0, send: proxy.calls.sendTransaction ?? 0 }).toEqual(before);
    expect((await client.account()).available).toBe(DOUG.toString());
    expect((await client.account()).withdrawn).toBe('0');
  });

  it('refunds a transfer that failed on chain exactly once', async () => {
    const { client } = await fundedWallet(4n * DOUG);
    const destination = (await generateKeypair()).publicKey;
    // Custody is emptied behind the ledger's back (its authority moves the tokens away), so the
    // withdrawal's transfer lands and fails; then the tokens go back.
    const authority = await loadKeypair(join(stack.dir, 'chain', 'custody-authority.json'));
    const custodySigner = Web3Keypair.fromSecretKey(authority.secretKey);
    const mint = new PublicKey(chain.mint);
    const custody = new PublicKey(chain.custodyTokenAccount);
    const held = (await getAccount(connection, custody, 'finalized')).amount;
    const parkingOwner = Web3Keypair.generate();
    const parkingAta = getAssociatedTokenAddressSync(mint, parkingOwner.publicKey);
    await sendAndConfirmTransaction(
      connection,
      new Transaction().add(
        createAssociatedTokenAccountIdempotentInstruction(custodySigner.publicKey, parkingAta, parkingOwner.publicKey, mint),
        createTransferCheckedInstruction(custody, mint, parkingAta, custodySigner.publicKey, held, 9),
      ),
      [custodySigner],
      { commitment: 'finalized' },
    );
    try {
      const accepted = await client.withdraw({ amount: 3n * DOUG, destination });
      expect(accepted.status).toBe('funded');
      const w = await closed(accepted.withdrawalId);
      expect(w.status).toBe('refunded');
      expect(w.refund?.reason).toBe('failed');
      expect(w.attempts.map((a) => a.status)).toEqual(['failed']);
      // The refund reaches the ledger through the outbox: once.
      const account = await eventually(async () => {
        const a = await client.account();
        return a.available === (4n * DOUG).toString() ? a : null;
      }, 'the refund on the ledger');
      expect(account.withdrawn).toBe((3n * DOUG).toString());
      expect(account.credited).toBe((7n * DOUG).toString());
      await new Promise((r) => setTimeout(r, 1_500));
      expect((await client.account()).available).toBe((4n * DOUG).toString());
      const refunds = (await client.ledger(undefined, { limit: 200 })).items.filter((e) => e.type === 'Credited' && String(e.data.ref).startsWith('withdrawal-refund:'));
      expect(refunds).toHaveLength(1);
      expect(await tokenBalance(destination)).toBe(0n);
      expect(await landedTransfers(w.withdrawalId)).toEqual([]);
    } finally {
      await sendAndConfirmTransaction(connection, new Transaction().add(createTransferCheckedInstruction(parkingAta, mint, custody, parkingOwner.publicKey, held, 9)), [custodySigner, parkingOwner], {
        commitment: 'finalized',
      });
    }
  });
});

describe('the audit after deposits and withdrawals', () => {
  it('finds custody on chain equal to what the ledger owes', async () => {
    const audit = await eventually(async () => {
      const a = await reader.audit();
      return a.ok && a.custody?.withdrawalsInFlight === '0' ? a : null;
    }, 'an audit that has caught up');
    expect(audit.custody?.ok).toBe(true);
    const onChain = (await getAccount(connection, new PublicKey(chain.custodyTokenAccount), 'finalized')).amount;
    // Deposited 10 + 5 + 3 + 1 + 4, paid out 3 + 2 + 1; the failed 3 was refunded.
    expect(onChain).toBe(17n * DOUG);
    expect(audit.custody).toMatchObject({ onChain: onChain.toString(), expected: onChain.toString(), withdrawalsInFlight: '0', unclaimed: '0' });
    expect(audit).toMatchObject({ credited: (26n * DOUG).toString(), withdrawn: (9n * DOUG).toString(), available: (17n * DOUG).toString() });
  });
});
