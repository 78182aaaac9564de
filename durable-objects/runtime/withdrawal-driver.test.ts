import { createMint, getAccount, getAssociatedTokenAddressSync, getOrCreateAssociatedTokenAccount, mintTo } from '@solana/spl-token';
import { Connection, Keypair, LAMPORTS_PER_SOL, PublicKey } from '@solana/web3.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { encodeBase58 } from '../../programs/client/base58.ts';
import { accountDecider, type AccountCommand, type AccountState } from '../domain/account/index.ts';
import { withdrawalDecider, type OpenedWithdrawal, type WithdrawalCommand, type WithdrawalEvent, type WithdrawalState } from '../domain/custody/index.ts';
import type { CommandMeta, Outgoing } from '../domain/decider.ts';
import { UNITS_PER_DOUG } from '../domain/money.ts';
import type { Result } from '../domain/result.ts';
import { startLocalChain, type LocalChain } from '../../programs/local-chain/server.ts';
import { signatureOf, startRpcProxy, type RpcProxy } from '../../test/e2e/rpc-proxy.ts';
import { custodyFor } from './chain.ts';
import type { Env } from './env.ts';
import { WithdrawalDriver } from './withdrawal-driver.ts';

/*
 * The withdrawal driver (what WithdrawalObject's alarm runs) against the real local chain, through
 * a JSON-RPC proxy that fails, hangs, loses answers of sends that landed, swallows sends and
 * answers statuses as a lagging node would. The withdrawal and the account are the real deciders
 * over in-memory logs; "restart" replaces the driver (its memory is lost, the log stays), as an
 * evicted Durable Object would be. Every test ends with the chain's own account of what moved.
 */

const DOUG = UNITS_PER_DOUG;
const SUPPLY = 1_000n * DOUG;

let chain: LocalChain;
let proxy: RpcProxy;
let connection: Connection;
let mint: PublicKey;
let custodyAta: PublicKey;
let env: Env;

beforeAll(async () => {
  chain = await startLocalChain({ port: 0 });
  proxy = await startRpcProxy(chain.url);
  connection = new Connection(chain.url, 'confirmed');
  const payer = Keypair.generate();
  const authority = Keypair.generate();
  for (const who of [payer, authority]) {
    await connection.confirmTransaction({ signature: await connection.requestAirdrop(who.publicKey, 10 * LAMPORTS_PER_SOL), ...(await connection.getLatestBlockhash()) });
  }
  mint = await createMint(connection, payer, payer.publicKey, null, 9);
  custodyAta = (await getOrCreateAssociatedTokenAccount(connection, payer, mint, authority.publicKey)).address;
  await mintTo(connection, payer, mint, custodyAta, payer, SUPPLY);
  env = {
    SOLANA_RPC_URL: proxy.url,
    DOUG_MINT: mint.toBase58(),
    CUSTODY_TOKEN_ACCOUNT: custodyAta.toBase58(),
    CUSTODY_AUTHORITY: authority.publicKey.toBase58(),
    CUSTODY_AUTHORITY_KEY: encodeBase58(authority.secretKey),
  } as Env;
});

afterAll(async () => {
  await proxy?.stop();
  await chain?.stop();
});

beforeEach(() => proxy.clear());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One withdrawal and its account, over the real deciders, driven against the chain through the proxy. */
class Harness {
  state: WithdrawalState = withdrawalDecider.initialState();
  events: WithdrawalEvent[] = [];
  account: AccountState = accountDecider.initialState();
  outbox: Outgoing[] = [];
  driver!: WithdrawalDriver;
  /** Debits that apply and then lose their answer. */
  loseDebitAnswers = 0;
  debitCalls = 0;
  warnings: string[] = [];
  private seq = 0;
  readonly wallet = Keypair.generate().publicKey.toBase58();
  readonly destination = Keypair.generate().publicKey;
  readonly custody = custodyFor(env, { withdrawals: true, timeoutMs: 300 });

  constructor(
    readonly id: string,
    funds: bigint,
  ) {
    if (funds > 0n) this.applyAccount({ type: 'Credit', ref: 'deposit-1', amount: funds, source: 'deposit' });
    this.restart();
  }

  private meta(): CommandMeta {
    return { commandId: `c${this.seq++}`, actor: 'test', now: Date.now() };
  }

  applyAccount(command: AccountCommand): Result<unknown> {
    const r = accountDecider.decide(this.account, command, this.meta());
    if (r.ok) for (const e of r.value) this.account = accountDecider.evolve(this.account, e, this.meta());
    return r;
  }

  record(command: WithdrawalCommand, meta: CommandMeta): Result<unknown> {
    const r = withdrawalDecider.decide(this.state, command, meta);
    if (r.ok) {
      for (const e of r.value) {
        this.outbox.push(...withdrawalDecider.react(this.state, e, meta));
        this.state = withdrawalDecider.evolve(this.state, e, meta);
        this.events.push(e);
      }
    }
    return r;
  }

  /** A new driver over the same log: what a restarted object has. */
  restart(): void {
    this.driver = new WithdrawalDriver({
      state: () => this.state,
      record: (c, m) => this.record(c, m),
      debit: async (_account, command) => {
        this.debitCalls++;
        const r = this.applyAccount(command);
        if (this.loseDebitAnswers > 0) {
          this.loseDebitAnswers--;
          throw new Error('the account object did not answer (test)');
        }
        return r;
      },
      custody: () => this.custody,
      now: () => Date.now(),
      warn: (m) => this.warnings.push(m),
    });
  }

  request(amount: bigint): void {
    const r = this.record({ type: 'RequestWithdrawal', withdrawalId: this.id, account: this.wallet, destination: this.destination.toBase58(), amount }, this.meta());
    expect(r.ok).toBe(true);
  }

  get w(): OpenedWithdrawal {
    if (this.state.status === 'none') throw new Error('no withdrawal');
    return this.state;
  }

  /** Drives as the alarm would (sleeping until the driver's next due time) until `done`, or fails. */
  async runUntil(done: (w: OpenedWithdrawal) => boolean, timeoutMs = 30_000, between?: () => void): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.w)) {
      if (Date.now() > deadline) throw new Error(`withdrawal ${this.id} stuck at ${JSON.stringify(this.w)}; warnings: ${this.warnings.slice(-5).join(' | ')}`);
      await this.driver.drive();
      between?.();
      const due = this.driver.dueAt();
      if (due !== null && !done(this.w)) await sleep(Math.max(5, Math.min(due - Date.now(), 200)));
    }
  }

  /** Applies the outbox to the account (twice: delivery is at least once; the refund's ref makes it once). */
  deliverOutbox(): void {
    for (const m of this.outbox) {
      this.applyAccount(m.command as AccountCommand);
      this.applyAccount(m.command as AccountCommand);
    }
    this.outbox = [];
  }

  ata(): PublicKey {
    return getAssociatedTokenAddressSync(mint, this.destination);
  }

  async tokenBalance(): Promise<bigint> {
    try {
      return (await getAccount(connection, this.ata(), 'finalized')).amount;
    } catch {
      return 0n;
    }
  }

  /** Successful transactions on chain carrying this withdrawal's memo. */
  async landedTransfers(): Promise<string[]> {
    const sigs = await connection.getSignaturesForAddress(custodyAta, { limit: 1000 }, 'finalized');
    return sigs.filter((s) => s.err === null && s.memo?.includes(`doug:withdrawal:${this.id}`)).map((s) => s.signature);
  }

  /** The whole story, checked against the chain: paid exactly once, the ledger down exactly once. */
  async expectPaidOnce(amount: bigint, funds: bigint): Promise<void> {
    expect(this.w.status).toBe('paid');
    expect(await this.tokenBalance()).toBe(amount);
    const landed = await this.landedTransfers();
    expect(landed).toHaveLength(1);
    expect(this.w.status === 'paid' && this.w.signature).toBe(landed[0]);
    expect(this.w.attempts.filter((a) => a.status === 'finalized').map((a) => a.signature)).toEqual(landed);
    expect(this.account.withdrawn).toBe(amount);
    expect(this.account.available).toBe(funds - amount);
    expect(this.events.filter((e) => e.type === 'WithdrawalDebited')).toHaveLength(1);
    expect(this.outbox).toEqual([]);
  }
}

describe('a withdrawal under an RPC that fails or times out between send and confirm', () => {
  it('is paid exactly once: lost debit answer, a send that landed with its answer lost, failing and lagging status reads', async () => {
    const h = new Harness('w-flaky', 10n * DOUG);
    h.loseDebitAnswers = 1;
    proxy.fault({ method: 'getLatestBlockhash', mode: 'error', times: 1 });
    proxy.fault({ method: 'sendTransaction', mode: 'forward-hang', times: 1 });
    proxy.fault({ method: 'sendTransaction', mode: 'forward-error', times: 1 });
    proxy.fault({ method: 'sendTransaction', mode: 'rpc-error', times: 1 });
    proxy.fault({ method: 'getEpochInfo', mode: 'hang', times: 1 });
    proxy.fault({ method: 'getSignatureStatuses', mode: 'error', times: 2 });
    proxy.fault({ method: 'getSignatureStatuses', mode: 'not-found', times: 3 });
    const sendsBefore = proxy.forwardedSends.length;
    h.request(3n * DOUG);
    await h.runUntil((w) => w.status === 'paid');
    await h.expectPaidOnce(3n * DOUG, 10n * DOUG);
    // The debit was retried after its lost answer and applied once.
    expect(h.debitCalls).toBe(2);
    // One attempt, sent several times (the chain saw the same bytes each time), paid once.
    expect(h.w.attempts).toHaveLength(1);
    const sends = proxy.forwardedSends.slice(sendsBefore);
    expect(sends.length).toBeGreaterThanOrEqual(2);
    expect(new Set(sends.map(signatureOf))).toEqual(new Set([h.w.attempts[0]!.signature]));
    expect(proxy.faults.getSignatureStatuses).toBeGreaterThanOrEqual(5);
    expect(h.warnings.length).toBeGreaterThanOrEqual(6);
  });

  it('is paid exactly once across restarts: after signing (nothing sent yet) and after a send whose answer was lost', async () => {
    const h = new Harness('w-restart', 5n * DOUG);
    h.request(2n * DOUG);
    await h.driver.drive(1); // debit
    expect(h.w.status).toBe('funded');
    await h.driver.drive(1); // sign
    expect(h.w.attempts).toHaveLength(1);
    const signature = h.w.attempts[0]!.signature;
    h.restart();
    proxy.fault({ method: 'sendTransaction', mode: 'forward-hang', times: 1 });
    await h.driver.drive(1); // the send lands, its answer is lost: nothing recorded
    expect(h.w.attempts[0]!.sends).toBe(0);
    h.restart();
    await h.runUntil((w) => w.status === 'paid');
    await h.expectPaidOnce(2n * DOUG, 5n * DOUG);
    expect(h.w.attempts.map((a) => a.signature)).toEqual([signature]);
  });

  it('signs anew only once the first attempt is proven expired, and is paid once', async () => {
    const h = new Harness('w-expired', 5n * DOUG);
    // The first send is accepted by the node and dropped; so is every later resend of that attempt.
    proxy.fault({ method: 'sendTransaction', mode: 'swallow', times: 1 });
    h.request(DOUG);
    await h.runUntil((w) => (w.attempts[0]?.sends ?? 0) >= 1);
    const first = h.w.attempts[0]!;
    proxy.fault({ method: 'sendTransaction', mode: 'swallow', times: Infinity, when: (p) => signatureOf(String(p[0])) === first.signature });
    // Resent and observed for a while, the attempt is never replaced while it could land.
    await h.runUntil((w) => (w.attempts[0]?.sends ?? 0) >= 2);
    expect(h.w.attempts).toHaveLength(1);
    chain.expireBlockhash();
    await h.runUntil((w) => w.status === 'paid');
    await h.expectPaidOnce(DOUG, 5n * DOUG);
    expect(h.w.attempts.map((a) => a.status)).toEqual(['expired', 'finalized']);
    expect(h.w.attempts[0]!.signature).toBe(first.signature);
    expect(h.events.filter((e) => e.type === 'WithdrawalAttemptExpired')).toHaveLength(1);
    // The first attempt's bytes sent straight to the chain now can never land.
    await connection.sendRawTransaction(Buffer.from(first.transaction, 'base64'), { skipPreflight: true });
    expect((await connection.getSignatureStatus(first.signature, { searchTransactionHistory: true })).value).toBeNull();
    expect(await h.tokenBalance()).toBe(DOUG);
  });

  it('refunds a transfer that failed on chain exactly once, and pays nothing', async () => {
    const custodyBalance = (await getAccount(connection, custodyAta, 'finalized')).amount;
    const amount = custodyBalance + 1n; // more than custody holds: TransferChecked fails on chain
    const h = new Harness('w-fails', amount + DOUG);
    proxy.fault({ method: 'getSignatureStatuses', mode: 'error', times: 1 });
    h.request(amount);
    await h.runUntil((w) => w.status === 'refunded');
    expect(h.w.status === 'refunded' && h.w.reason).toBe('failed');
    expect(h.w.attempts.map((a) => a.status)).toEqual(['failed']);
    expect(h.account.available).toBe(DOUG);
    expect(h.outbox).toHaveLength(1);
    h.deliverOutbox();
    expect(h.account.available).toBe(amount + DOUG);
    expect(h.account.withdrawn).toBe(amount);
    expect(h.account.credited).toBe(amount + DOUG + amount);
    expect(await h.tokenBalance()).toBe(0n);
    expect(await h.landedTransfers()).toEqual([]);
    expect((await getAccount(connection, custodyAta, 'finalized')).amount).toBe(custodyBalance);
  });

  it('is rejected without touching the chain when the ledger lacks the funds', async () => {
    const h = new Harness('w-poor', DOUG);
    const before = { ...proxy.calls };
    h.request(2n * DOUG);
    await h.runUntil((w) => w.status === 'rejected');
    expect(h.w.status === 'rejected' && h.w.code).toBe('ACCOUNT__INSUFFICIENT_FUNDS');
    expect(proxy.calls).toEqual(before);
    expect(h.account.available).toBe(DOUG);
    expect(h.account.withdrawn).toBe(0n);
    expect(h.outbox).toEqual([]);
  });

  it('pays each of several concurrent withdrawals exactly once under random faults and restarts', async () => {
    let seed = 0x2545f491;
    const random = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    const sometimes = (p: number) => () => random() < p;
    proxy.fault({ method: 'sendTransaction', mode: 'forward-hang', times: Infinity, when: sometimes(0.15) });
    proxy.fault({ method: 'sendTransaction', mode: 'swallow', times: Infinity, when: sometimes(0.2) });
    proxy.fault({ method: 'sendTransaction', mode: 'error', times: Infinity, when: sometimes(0.1) });
    proxy.fault({ method: 'getSignatureStatuses', mode: 'not-found', times: Infinity, when: sometimes(0.25) });
    proxy.fault({ method: 'getSignatureStatuses', mode: 'hang', times: Infinity, when: sometimes(0.1) });
    proxy.fault({ method: 'getEpochInfo', mode: 'error', times: Infinity, when: sometimes(0.1) });
    proxy.fault({ method: 'getLatestBlockhash', mode: 'error', times: Infinity, when: sometimes(0.2) });
    const hs = Array.from({ length: 4 }, (_, i) => new Harness(`w-chaos-${i}`, 10n * DOUG));
    hs.forEach((h, i) => h.request(BigInt(i + 1) * DOUG));
    await Promise.all(hs.map((h) => h.runUntil((w) => w.status === 'paid', 60_000, () => (random() < 0.1 ? h.restart() : undefined))));
    proxy.clear();
    for (const [i, h] of hs.entries()) await h.expectPaidOnce(BigInt(i + 1) * DOUG, 10n * DOUG);
  });
});
