/// <reference lib="dom" />
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeypair, keypairFromSeed, type Delegation } from '../../durable-objects/contracts/auth.ts';
import { toWire } from '../../durable-objects/contracts/tensors.ts';
import { UNITS_PER_DOUG } from '../../durable-objects/domain/money.ts';
import { buildMlpModel } from '../../gpu-agent/models/build.ts';
import { DougApiError, DougClient } from '../../sdk/client.ts';
import { loadKeypair } from '../../sdk/keyfile.ts';
import { associatedTokenAddress } from '../../programs/client/address.ts';
import { airdropUpTo, faucetMint, sendAndFinalize } from '../../programs/client/mint.ts';
import { stakingOverview } from '../../sdk/staking.ts';
import { governanceOverview } from '../../sdk/governance.ts';
import { proposeSlashInstructions, readGovernance } from '../../programs/client/governance.ts';
import { readPositions } from '../../programs/client/staking.ts';
import { distributeInstructions } from '../../programs/client/staking.ts';
import { solanaRpc } from '../../programs/client/rpc.ts';
import { signerFromSecretKey } from '../../programs/client/tx.ts';
import { eventually } from '../../test/e2e/agents.ts';
import { startStack, stopGroup, type Stack } from '../../test/e2e/stack.ts';
import { connectDevWallet, launch, openPage, PHONE } from './browser.ts';
import { installTestWallet } from './test-wallet.ts';

/**
 * The portal as a user meets it: Debian's Chromium against the `npm start` stack (wrangler dev,
 * local mode, two local CPU agents on market `cpu`). Every test saves screenshots under
 * test-output/browser/ and fails on any console error or uncaught exception in the page.
 */
let stack: Stack;
let browser: Browser;
let api: DougClient;
const work = mkdtempSync(join(tmpdir(), 'doug-portal-'));
const modelPath = join(work, 'mlp-16x4.onnx');

beforeAll(async () => {
  writeFileSync(modelPath, buildMlpModel({ inputSize: 16, hidden: 32, outputSize: 4, seed: 42 }));
  // A challenge window long enough for a person (and a loaded CI machine) to click in it.
  const markets = [
    { id: 'cpu', description: 'General-purpose CPU inference', params: { leaseMs: 4_000, replicaBidTtlMs: 30_000, challengeWindowMs: 30_000 } },
    { id: 'gpu-24gb', description: 'GPUs with at least 24 GB of memory' },
  ];
  stack = await startStack({ agents: 2, markets: JSON.stringify(markets) });
  api = new DougClient({ baseUrl: stack.url });
  browser = await launch();
  // The two agents list their asks on `cpu` once they have connected.
  await eventually(async () => (await api.asks({ market: 'cpu' })).items.length >= 2, 'two agents offering cpu', 90_000, stack.log);
});

afterAll(async () => {
  try {
    await browser?.close();
    await stack?.stop();
  } finally {
    // The folder holds a provider agent's key: it goes with the run, passed or failed.
    rmSync(work, { recursive: true, force: true });
  }
});

/** The words of a shell command line as sh splits them, for the quoting the portal writes (bare or '…'). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '\\' && line[i + 1] === "'") {
      word = (word ?? '') + "'";
      i++;
    } else if (c === ' ') {
      if (word !== null) words.push(word);
      word = null;
    } else word = (word ?? '') + c;
  }
  if (word !== null) words.push(word);
  return words;
}

/** What the Wallet Standard test wallet has been asked to sign so far (web/tests/test-wallet.ts). */
function testWallet(page: Page): Promise<{ signs: number; transactionSigns: number; publicKey: string }> {
  return page.evaluate(() => (window as unknown as { __testWallet: { signs: number; transactionSigns: number; publicKey: string } }).__testWallet);
}

/** $DOUG base units in `owner`'s associated token account, read from the chain's RPC (GET /v1/chain names it) with a plain JSON-RPC call. */
async function tokenBalanceOnChain(owner: string): Promise<bigint> {
  const chain = await api.chain();
  const res = await fetch(chain.rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'getTokenAccountBalance', params: [await associatedTokenAddress(owner, chain.mint), { commitment: 'finalized' }] }),
  });
  const body = (await res.json()) as { result?: { value: { amount: string } }; error?: { message: string } };
  if (!body.result) throw new Error(`getTokenAccountBalance: ${body.error?.message ?? res.status}`);
  return BigInt(body.result.value.amount);
}

/** SOL for fees and `amount` base units of $DOUG minted to `account`'s token account on the stack's chain (the mint authority's key is the stack's). */
async function fundWallet(account: string, amount: bigint) {
  const chain = stack.chain()!;
  const rpc = solanaRpc(chain.rpcUrl);
  const mintAuthority = await signerFromSecretKey((await loadKeypair(join(stack.dir, 'chain', 'mint-authority.json'))).secretKey);
  await airdropUpTo(rpc, account, 1_000_000_000);
  await faucetMint(rpc, { mint: chain.mint, decimals: 9, mintAuthority, wallet: account, amount });
  return { chain, rpc, mintAuthority };
}

/** Connects the Wallet Standard test wallet (installTestWallet) from the header; answers its public key. */
async function connectTestWallet(page: Page): Promise<string> {
  await page.getByRole('button', { name: 'Connect wallet' }).click();
  await page.locator('[data-wallet="standard:Test Wallet"]').click();
  await page.getByTestId('wallet-key').waitFor();
  return (await testWallet(page)).publicKey;
}

/** Moves the local chain's clock `seconds` ahead (its doug_timeTravel), so that a vote or a hold-up can end. */
async function timeTravel(seconds: number): Promise<void> {
  const res = await fetch((await api.chain()).rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'doug_timeTravel', params: [seconds] }) });
  const body = (await res.json()) as { result?: number; error?: { message: string } };
  if (body.result === undefined) throw new Error(`doug_timeTravel: ${body.error?.message ?? res.status}`);
}

/** Goes to one of the portal's pages by its link in the header (a Wallet Standard wallet stays connected; a reload would ask to reconnect it). */
async function navigate(page: Page, label: string): Promise<void> {
  await page.getByRole('navigation').getByRole('link', { name: label, exact: true }).first().click();
}

/**
 * Stakes `amount` DOUG without a lock from the Stake page's form (the wallet connected on `page`),
 * then lets a second pass on chain, and comes back to the Govern page.
 */
async function stakeFromPage(page: Page, amount: string): Promise<void> {
  await navigate(page, 'Stake');
  await expect.poll(() => page.getByTestId('stake-wallet-balance').innerText(), { timeout: 15_000 }).toMatch(/DOUG$/);
  await page.getByTestId('stake-amount').fill(amount);
  await page.getByTestId('stake-lock').fill('0');
  await page.getByTestId('stake-submit').click();
  await page.locator('[data-testid="stake-done"], [data-testid="stake-error"]').first().waitFor({ timeout: 30_000 });
  const refused = page.getByTestId('stake-error');
  if ((await refused.count()) > 0) throw new Error(`staking ${amount} DOUG from the page was refused: ${(await refused.first().innerText()).replace(/\s+/g, ' ')}`);
  await timeTravel(1); // the position's weight stands before any proposal opens
  await navigate(page, 'Govern');
}

/** The wire inputs of the test model: one float32 tensor `x` of shape [1, 16]. */
function inputsJson(): string {
  const x = new Float32Array(16).map((_, i) => (i - 8) / 8);
  return JSON.stringify([toWire('x', 'float32', [1, 16], new Uint8Array(x.buffer))]);
}

describe('the portal in a real browser', () => {
  it('browses markets and offers, filters the offers, and fits a phone screen', async () => {
    const w = await openPage(browser, stack.url);
    const { page } = w;
    await page.goto('/');
    const cpu = page.locator('[data-testid="market-card"][data-market="cpu"]');
    await cpu.waitFor();
    await expect.poll(() => cpu.getByTestId('market-best-ask').innerText()).toContain('0.001');
    await expect.poll(() => page.locator('[data-testid="market-card"]').count()).toBe(2);
    await w.shot('markets');

    await cpu.getByRole('link').first().click();
    await page.waitForURL('**/markets/cpu');
    await page.getByTestId('depth-chart').waitFor();
    await page.getByTestId('book-asks').waitFor();
    await w.shot('market-detail');

    await page.goto('/offers');
    await expect.poll(() => page.getByTestId('offer-row').count()).toBe(2);
    await page.getByTestId('filter-market').selectOption('gpu-24gb');
    await expect.poll(() => page.getByTestId('offer-row').count()).toBe(0);
    await expect.poll(() => page.url()).toContain('market=gpu-24gb');
    await w.shot('offers-filtered-empty');
    await page.getByTestId('filter-market').selectOption('cpu');
    await expect.poll(() => page.getByTestId('offer-row').count()).toBe(2);
    await page.getByTestId('filter-max-price').fill('0.0001');
    await expect.poll(() => page.getByTestId('offer-row').count()).toBe(0);
    await page.getByTestId('filter-max-price').fill('');
    await expect.poll(() => page.getByTestId('offer-row').count()).toBe(2);
    await w.shot('offers');
    expect(w.problems()).toEqual([]);
    await w.close();

    const phone = await openPage(browser, stack.url, PHONE);
    // Each page with its data loaded (not its loading state) before it is measured.
    const loaded: Record<string, string> = { '/': '[data-testid="market-card"]', '/offers': '[data-testid="offer-row"]', '/markets/cpu': '[data-testid="book-asks"]', '/bid': '[data-testid="bid-market"] option[value="cpu"]', '/provide': '[data-testid="agent-command"]' };
    for (const [path, selector] of Object.entries(loaded)) {
      await phone.page.goto(path);
      await phone.page.locator('main h1').first().waitFor();
      await phone.page.locator(selector).first().waitFor({ state: 'attached' });
      // Nothing may push the page sideways: wide tables scroll inside their own box.
      expect(await phone.page.evaluate(() => document.documentElement.scrollWidth), path).toBeLessThanOrEqual(PHONE.width);
      await phone.shot(`phone${path === '/' ? '-markets' : path.replace(/\//g, '-')}`);
    }
    // The menu opens from the keyboard on a phone.
    await phone.page.getByRole('button', { name: 'Menu' }).focus();
    await phone.page.keyboard.press('Enter');
    await phone.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Offers' }).waitFor();
    await phone.shot('phone-menu');
    expect(phone.problems()).toEqual([]);
    await phone.close();
  });

  it('places a bid with the development wallet and sees it verified and settled', async () => {
    const w = await openPage(browser, stack.url);
    const { page } = w;
    await page.goto('/account');
    const account = await connectDevWallet(page);
    expect(account).toMatch(/^[1-9A-HJ-NP-Za-km-z]{32,44}$/);
    await page.getByTestId('faucet-amount').fill('10');
    await page.getByTestId('faucet-submit').click();
    await expect.poll(() => page.getByTestId('balance-available').innerText(), { timeout: 30_000 }).toContain('10');
    await w.shot('account-funded');

    await page.goto('/bid');
    await page.getByTestId('bid-market').selectOption('cpu');
    await page.getByTestId('bid-model-file').setInputFiles(modelPath);
    await page.getByTestId('bid-inputs-text').fill(inputsJson());
    await page.getByTestId('bid-max-price').fill('0.002');
    await page.getByTestId('bid-units').fill('1');
    await page.getByTestId('bid-replicas').fill('2');
    // Escrow = max price × units × replicas, shown before confirming.
    await expect.poll(() => page.getByTestId('bid-escrow').innerText()).toContain('0.004');
    await w.shot('bid-form');
    await page.getByTestId('bid-submit').click();
    await page.waitForURL(/\/jobs\/bid_cpu_[0-9a-f]{24}$/, { timeout: 60_000 });
    const jobId = page.url().split('/').pop()!;
    await expect.poll(() => page.getByTestId('job-status').innerText(), { timeout: 90_000 }).toMatch(/settled/i);
    expect(await page.locator('[data-testid="timeline-step"][data-step="verified"]').getAttribute('data-reached')).toBe('true');
    await w.shot('job-settled');

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-result').click()]);
    const saved = join(work, 'result.json');
    await download.saveAs(saved);
    const result = JSON.parse(readFileSync(saved, 'utf8')) as { outputs: { name: string; dims: number[] }[] };
    expect(result.outputs[0]?.dims).toEqual([1, 4]);
    await page.getByTestId('result-preview').waitFor();
    await w.shot('job-result');

    // What the page showed is what the ledger holds: 2 replicas at the resting price 0.001.
    const job = await api.job(jobId);
    expect(job.status).toBe('settled');
    const balance = await api.account(account);
    expect(BigInt(balance.available)).toBe(10n * UNITS_PER_DOUG - 2n * (UNITS_PER_DOUG / 1000n));

    await page.goto('/jobs');
    await page.locator(`[data-testid="job-row"][data-job="${jobId}"]`).waitFor();
    await w.shot('my-jobs');
    expect(w.problems()).toEqual([]);
    await w.close();
  });

  it('deposits $DOUG from the development wallet with the Deposit form', async () => {
    const w = await openPage(browser, stack.url);
    const { page } = w;
    await page.goto('/account');
    const account = await connectDevWallet(page);
    // The faucet mints to the wallet on the local chain and deposits it at once.
    await page.getByTestId('faucet-amount').fill('3');
    await page.getByTestId('faucet-submit').click();
    await expect.poll(() => page.getByTestId('balance-available').innerText(), { timeout: 30_000 }).toContain('3');
    await expect.poll(() => page.getByTestId('wallet-balance').innerText()).toBe('0 DOUG');
    // $DOUG that reaches the wallet some other way (here minted by the chain's mint authority).
    const chain = stack.chain()!;
    const mintAuthority = await loadKeypair(join(stack.dir, 'chain', 'mint-authority.json'));
    await faucetMint(solanaRpc(chain.rpcUrl), { mint: chain.mint, decimals: 9, mintAuthority: await signerFromSecretKey(mintAuthority.secretKey), wallet: account, amount: 4n * UNITS_PER_DOUG });
    await expect.poll(() => page.getByTestId('wallet-balance').innerText(), { timeout: 10_000 }).toBe('4 DOUG');
    await page.getByTestId('deposit-amount').fill('5');
    await page.getByTestId('deposit-submit').click();
    await expect.poll(() => page.getByTestId('deposit-error').innerText()).toContain('Your wallet holds 4 DOUG on chain');
    await page.getByTestId('deposit-amount').fill('2.5');
    await page.getByTestId('deposit-submit').click();
    await page.getByTestId('deposit-done').waitFor({ timeout: 30_000 });
    await expect.poll(() => page.getByTestId('balance-available').innerText()).toContain('5.5');
    await expect.poll(() => page.getByTestId('wallet-balance').innerText()).toBe('1.5 DOUG');
    await w.shot('account-deposit');
    expect((await api.account(account)).available).toBe('5500000000');
    expect(w.problems()).toEqual([]);
    await w.close();
  });

  it('withdraws to the development wallet on chain: the ledger goes down and the wallet up by exactly the amount', async () => {
    const w = await openPage(browser, stack.url);
    const { page } = w;
    await page.goto('/account');
    const account = await connectDevWallet(page);
    // The faucet mints 6 DOUG to the wallet on the local chain, and the development wallet deposits it at once.
    await page.getByTestId('faucet-amount').fill('6');
    await page.getByTestId('faucet-submit').click();
    await expect.poll(() => page.getByTestId('balance-available').innerText(), { timeout: 30_000 }).toContain('6');
    await expect.poll(() => page.getByTestId('wallet-balance').innerText()).toBe('0 DOUG');
    const ledgerBefore = BigInt((await api.account(account)).available);
    const walletBefore = await tokenBalanceOnChain(account);
    expect(ledgerBefore).toBe(6n * UNITS_PER_DOUG);

    // The destination starts as the connected wallet; the form refuses a bad address and more than is available.
    expect(await page.getByTestId('withdraw-destination').inputValue()).toBe(account);
    await page.getByTestId('withdraw-amount').fill('7');
    await page.getByTestId('withdraw-destination').fill('not-a-wallet');
    await page.getByTestId('withdraw-submit').click();
    await expect.poll(() => page.getByTestId('withdraw-error').allInnerTexts()).toEqual(['Your available balance is 6 DOUG.', 'Not a Solana wallet address (base58, 32 bytes).']);
    await w.shot('account-withdraw-invalid');
    await page.getByTestId('withdraw-destination').fill(account);
    await page.getByTestId('withdraw-amount').fill('2.5');
    await page.getByTestId('withdraw-submit').click();
    const status = page.getByTestId('withdraw-status');
    await status.waitFor();
    await expect.poll(() => status.getAttribute('data-status'), { timeout: 60_000 }).toBe('paid');
    expect(await status.getAttribute('data-step')).toBe('finalized');
    expect(await status.innerText()).toMatch(/Paid: the transfer is finalized on chain/);
    const shown = await page.getByTestId('withdraw-signature').getAttribute('title');
    await expect.poll(() => page.getByTestId('balance-available').innerText()).toContain('3.5');
    const row = page.locator('[data-testid="withdrawal-row"]');
    await expect.poll(() => row.count()).toBe(1);
    await expect.poll(() => row.first().getAttribute('data-status')).toBe('paid');
    await w.shot('account-withdrawn');

    // The ledger went down and the wallet's token account up by exactly 2.5 DOUG, paid by the signature shown.
    const amount = 2_500_000_000n;
    const balance = await api.account(account);
    expect(BigInt(balance.available)).toBe(ledgerBefore - amount);
    expect(balance.withdrawn).toBe(amount.toString());
    expect(await tokenBalanceOnChain(account)).toBe(walletBefore + amount);
    // The account's list is a read model: it may lag the withdrawal's own state a moment.
    const listed = await eventually(async () => {
      const items = (await api.withdrawals(account)).items;
      return items[0]?.status === 'paid' ? items : null;
    }, 'the paid withdrawal in the read model');
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ status: 'paid', amount: amount.toString(), destination: account, signature: shown });
    expect(await row.first().getByTestId('withdrawal-signature').getAttribute('title')).toBe(shown);

    // The server's coded refusal shows when the page's balance is stale: another client of this wallet
    // withdraws 3 DOUG while the page still reads 3.5 available (its balance reads answer the old figure).
    const stale = await (await fetch(`${stack.url}/v1/accounts/${account}`)).text();
    await page.route(`**/v1/accounts/${account}`, (route) => route.fulfill({ status: 200, contentType: 'application/json', body: stale }));
    const seed = (await page.evaluate(() => localStorage.getItem('doug.devWallet.seed')))!;
    const elsewhere = new DougClient({ baseUrl: stack.url, keypair: await keypairFromSeed(Uint8Array.from(seed.match(/../g)!.map((h) => parseInt(h, 16)))) });
    await elsewhere.withdraw({ amount: 3n * UNITS_PER_DOUG });
    await page.getByTestId('withdraw-amount').fill('1');
    await page.getByTestId('withdraw-submit').click();
    await expect.poll(() => page.getByTestId('withdraw-error').innerText()).toContain('ACCOUNT__INSUFFICIENT_FUNDS');
    await w.shot('account-withdraw-refused');
    await page.unroute(`**/v1/accounts/${account}`);
    // Nothing more left the ledger than the other client's 3 DOUG.
    expect(BigInt((await api.account(account)).available)).toBe(ledgerBefore - amount - 3n * UNITS_PER_DOUG);
    await expect.poll(() => page.getByTestId('balance-available').innerText(), { timeout: 10_000 }).toContain('0.5');

    // On a phone the account page fits the screen: the tables scroll inside their own box.
    await page.setViewportSize(PHONE);
    await expect.poll(() => page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    await w.shot('phone-account-withdrawn');
    expect(w.problems()).toEqual([]);
    await w.close();
  });

  it('deposits from a Wallet Standard wallet: one transaction prompt, after one message prompt each to connect and for the faucet', async () => {
    const w = await openPage(browser, stack.url);
    const { page } = w;
    await w.context.addInitScript(installTestWallet);
    await page.goto('/account');
    await page.getByRole('button', { name: 'Connect wallet' }).click();
    await page.locator('[data-wallet="standard:Test Wallet"]').click();
    await page.getByTestId('wallet-key').waitFor();
    expect(await testWallet(page)).toMatchObject({ signs: 1, transactionSigns: 0 });
    const { publicKey: account } = await testWallet(page);

    // The faucet is owner-only: the wallet signs the request (a message). It mints to the wallet on chain.
    await page.getByTestId('faucet-amount').fill('4');
    await page.getByTestId('faucet-submit').click();
    await expect.poll(() => page.getByTestId('wallet-balance').innerText(), { timeout: 30_000 }).toBe('4 DOUG');
    expect(await testWallet(page)).toMatchObject({ signs: 2, transactionSigns: 0 });
    expect((await api.account(account)).available).toBe('0');

    // The Deposit form: the wallet signs the transfer (solana:signTransaction), once.
    await page.getByTestId('deposit-amount').fill('3');
    await page.getByTestId('deposit-submit').click();
    await page.getByTestId('deposit-done').waitFor({ timeout: 30_000 });
    await expect.poll(() => page.getByTestId('balance-available').innerText()).toContain('3');
    await expect.poll(() => page.getByTestId('wallet-balance').innerText()).toBe('1 DOUG');
    expect(await testWallet(page)).toMatchObject({ signs: 2, transactionSigns: 1 });
    expect((await api.account(account)).available).toBe('3000000000');
    expect(await tokenBalanceOnChain(account)).toBe(UNITS_PER_DOUG);
    await w.shot('wallet-standard-deposit');

    // A withdrawal from the escrow back to the wallet: the wallet signs the request itself (one
    // message prompt), then the escrow withdrawal the marketplace co-signed (one transaction prompt).
    await page.getByTestId('withdraw-amount').fill('1.25');
    await page.getByTestId('withdraw-submit').click();
    await expect.poll(() => page.getByTestId('withdraw-status').getAttribute('data-status'), { timeout: 60_000 }).toBe('paid');
    expect(await testWallet(page)).toMatchObject({ signs: 3, transactionSigns: 2 });
    expect((await api.account(account)).available).toBe('1750000000');
    expect(await tokenBalanceOnChain(account)).toBe(2_250_000_000n);
    await w.shot('wallet-standard-withdrawn');
    await page.setViewportSize(PHONE);
    await expect.poll(() => page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    await w.shot('phone-wallet-standard-withdrawn');
    expect(w.problems()).toEqual([]);
    await w.close();
  });

  it('cancels a resting bid from My jobs, and challenges a single-replica result', async () => {
    const w = await openPage(browser, stack.url);
    const { page } = w;
    await page.goto('/account');
    const account = await connectDevWallet(page);
    await page.getByTestId('faucet-amount').fill('10');
    await page.getByTestId('faucet-submit').click();
    await expect.poll(() => page.getByTestId('balance-available').innerText(), { timeout: 30_000 }).toContain('10');

    const bid = async (market: string, replicas: string) => {
      await page.getByRole('link', { name: 'Bid for compute' }).first().click();
      await page.getByTestId('bid-market').selectOption(market);
      await page.getByTestId('bid-model-file').setInputFiles(modelPath);
      await page.getByTestId('bid-inputs-text').fill(inputsJson());
      await page.getByTestId('bid-max-price').fill('0.002');
      await page.getByTestId('bid-units').fill('1');
      await page.getByTestId('bid-replicas').fill(replicas);
      await page.getByTestId('bid-submit').click();
      await page.waitForURL(/\/jobs\/bid_/, { timeout: 60_000 });
      return page.url().split('/').pop()!;
    };

    // Nobody offers gpu-24gb at that price: the bid rests, its escrow held, until cancelled.
    const resting = await bid('gpu-24gb', '1');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'My jobs' }).click();
    const row = page.locator(`[data-testid="job-row"][data-job="${resting}"]`);
    await row.waitFor();
    await w.shot('my-jobs-open-bid');
    await row.getByRole('button', { name: /cancel/i }).click();
    await expect.poll(() => row.count(), { timeout: 30_000 }).toBe(0);
    await eventually(async () => (await api.account(account)).held === '0', 'the escrow released');
    expect((await api.account(account)).available).toBe((10n * UNITS_PER_DOUG).toString());

    // One replica: the result waits out a challenge window; the buyer challenges, another
    // provider re-runs it, they agree, and the buyer pays for both runs.
    const challenged = await bid('cpu', '1');
    await page.getByTestId('challenge-job').click({ timeout: 60_000 });
    await w.shot('job-challenge-confirm');
    await page.getByRole('button', { name: 'Confirm challenge' }).click();
    await expect.poll(() => page.getByTestId('job-status').innerText(), { timeout: 90_000 }).toMatch(/settled/i);
    expect(await page.locator('[data-testid="timeline-step"][data-step="challenged"]').getAttribute('data-reached')).toBe('true');
    await w.shot('job-challenged-settled');
    const job = await api.job(challenged);
    // The whole job in the message: a failure here says which replica was not paid and why.
    expect(job.replicas.filter((r) => r.status === 'paid').map((r) => r.provider).sort(), JSON.stringify(job)).toHaveLength(2);
    const paid = await eventually(async () => {
      const b = await api.account(account);
      return b.held === '0' ? b : null;
    }, 'the challenge hold settled');
    expect(BigInt(paid.available)).toBe(10n * UNITS_PER_DOUG - 2n * (UNITS_PER_DOUG / 1000n));
    expect(w.problems()).toEqual([]);
    await w.close();
  });

  it('lists an ask for a GPU and cancels it', async () => {
    const w = await openPage(browser, stack.url);
    const { page } = w;
    await page.goto('/provide');
    await connectDevWallet(page);
    await page.getByTestId('ask-market').selectOption('gpu-24gb');
    await page.getByTestId('ask-price').fill('0.05');
    await page.getByTestId('ask-capacity').fill('2');
    await page.getByTestId('ask-accelerator').fill('rtx-4090');
    await page.getByTestId('ask-memory').fill('24');
    await page.getByTestId('ask-region').fill('eu-west');
    await expect.poll(() => page.getByTestId('agent-command').innerText()).toContain('doug-agent');
    await page.getByTestId('ask-submit').click();
    const row = page.locator('[data-testid="my-ask-row"]').first();
    await expect.poll(() => row.getAttribute('data-status'), { timeout: 30_000 }).toBe('open');
    await w.shot('ask-listed');

    // The new ask is on the public offers list too.
    const offers = await eventually(async () => {
      const page = await api.asks({ market: 'gpu-24gb' });
      return page.items.length > 0 ? page : null;
    }, 'the ask in the offers read model');
    expect(offers.items.map((o) => o.attributes)).toContainEqual(expect.objectContaining({ accelerator: 'rtx-4090' }));

    await row.getByRole('button', { name: /cancel/i }).click();
    await expect.poll(() => row.getAttribute('data-status'), { timeout: 30_000 }).toBe('cancelled');
    await w.shot('ask-cancelled');
    expect(w.problems()).toEqual([]);
    await w.close();
  });

  it('shows the coded error of a bid the account cannot fund, and places nothing', async () => {
    const w = await openPage(browser, stack.url);
    const { page } = w;
    await page.goto('/bid');
    const account = await connectDevWallet(page);
    await page.getByTestId('bid-market').selectOption('cpu');
    await page.getByTestId('bid-model-file').setInputFiles(modelPath);
    await page.getByTestId('bid-inputs-text').fill(inputsJson());
    await page.getByTestId('bid-max-price').fill('0.002');
    await page.getByTestId('bid-units').fill('1');
    await page.getByTestId('bid-replicas').fill('1');
    await page.getByTestId('bid-submit').click();
    await expect.poll(() => page.getByTestId('bid-error').innerText(), { timeout: 30_000 }).toContain('ACCOUNT__INSUFFICIENT_FUNDS');
    // The amounts in DOUG under the server's message (which speaks in base units).
    expect(await page.getByTestId('bid-error').innerText()).toContain('required 0.002 DOUG');
    expect(page.url()).toMatch(/\/bid$/);
    await w.shot('bid-error');
    expect((await api.bids({ owner: account, status: 'all' })).items).toEqual([]);
    expect((await api.account(account)).held).toBe('0');
    expect(w.problems()).toEqual([]);
    await w.close();
  });

  it('connects a Wallet Standard wallet with one signature; orders after that ask it for none', async () => {
    const w = await openPage(browser, stack.url);
    const { page } = w;
    await w.context.addInitScript(installTestWallet);
    await page.goto('/provide');
    await page.getByRole('button', { name: 'Connect wallet' }).click();
    await page.locator('[data-wallet="standard:Test Wallet"]').waitFor();
    await w.shot('wallet-dialog');
    await page.locator('[data-wallet="standard:Test Wallet"]').click();
    await page.getByTestId('wallet-key').waitFor();
    const wallet = () => page.evaluate(() => (window as unknown as { __testWallet: { signs: number; publicKey: string } }).__testWallet);
    expect((await wallet()).signs).toBe(1);

    await page.getByTestId('ask-market').selectOption('cpu');
    await page.getByTestId('ask-price').fill('0.5');
    await page.getByTestId('ask-capacity').fill('1');
    await page.getByTestId('ask-submit').click();
    await expect.poll(() => page.locator('[data-testid="my-ask-row"]').first().getAttribute('data-status'), { timeout: 30_000 }).toBe('open');
    // The session key signed the ask for the wallet; the wallet was not asked again.
    const { signs, publicKey } = await wallet();
    expect(signs).toBe(1);
    const owned = await eventually(async () => {
      const page = await api.asks({ owner: publicKey });
      return page.items.length > 0 ? page : null;
    }, "the wallet's ask in the offers read model");
    expect(owned.items).toHaveLength(1);
    await w.shot('wallet-standard-ask');
    expect(w.problems()).toEqual([]);
    await w.close();
  });

  it('authorises a doug-agent from the browser wallet; the agent lists an ask owned by the wallet', async () => {
    const w = await openPage(browser, stack.url);
    const { page } = w;
    await page.goto('/provide');
    const wallet = await connectDevWallet(page);

    // Step 1: the command the page shows, run for real on "the machine with the GPU".
    expect(await page.getByTestId('agent-key-command').innerText()).toContain('npx doug-agent key');
    const keyPath = join(work, 'provider', 'agent.json');
    const cli = ['--import', 'tsx', 'gpu-agent/src/cli.ts'];
    const printed = await promisify(execFile)(process.execPath, [...cli, 'key', '--key', keyPath]);
    const agentKey = printed.stdout.trim();
    expect(agentKey).toMatch(/^[1-9A-HJ-NP-Za-km-z]{32,44}$/);

    // Step 2: the offer, the key, and the wallet's one signature.
    await page.getByTestId('ask-market').selectOption('cpu');
    await page.getByTestId('ask-price').fill('0.5');
    await page.getByTestId('ask-capacity').fill('1');
    await page.getByTestId('ask-region').fill('agent-test');
    await expect.poll(() => page.getByTestId('agent-command').innerText()).toContain('--delegation <authorise first>');
    await page.getByTestId('agent-key').fill(agentKey);
    await page.getByTestId('agent-period').selectOption('1d');
    await page.getByTestId('authorise-agent').click();
    await page.getByTestId('agent-authorised').waitFor();

    // Step 3: exactly the command's flags, with the key file and a model cache of this test.
    const command = await page.getByTestId('agent-command').innerText();
    expect(command).not.toContain('<authorise first>');
    expect(command).not.toContain('--wallet-key');
    const argv = shellWords(command.slice(command.indexOf('npx doug-agent')).replace(/ \\\n\s*/g, ' ')).slice(2);
    expect(argv[argv.indexOf('--server') + 1]).toBe(stack.url);
    const token = argv[argv.indexOf('--delegation') + 1]!;
    const delegation = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Delegation;
    expect(delegation).toMatchObject({ wallet, delegate: agentKey, scopes: ['asks', 'work'] });
    expect(delegation.expiresAt - Date.now()).toBeGreaterThan(86_400_000 - 120_000);
    const agent = spawn(process.execPath, [...cli, ...argv, '--key', keyPath, '--model-dir', join(work, 'provider', 'models'), '--drain-timeout', '5s'], {
      env: { ...process.env, DOUG_AGENT_FAULT: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let log = '';
    agent.stdout!.on('data', (d) => (log += d));
    agent.stderr!.on('data', (d) => (log += d));
    const exited = new Promise<number | null>((r) => agent.once('exit', (code) => r(code)));
    try {
      const ask = await eventually(async () => (await api.asks({ owner: wallet })).items.find((a) => a.status === 'open'), "the agent's ask, owned by the wallet", 90_000, () => log);
      expect(ask).toMatchObject({ owner: wallet, market: 'cpu', price: '500000000' });
      expect(ask.attributes).toMatchObject({ region: 'agent-test', accelerator: 'cpu' });
      expect(log).toContain(`agent key ${agentKey}, acting for wallet ${wallet} by its delegation`);
      // The page lists the agent's ask among the wallet's own.
      await expect.poll(() => page.locator(`[data-testid="my-ask-row"][data-ask="${ask.id}"]`).getAttribute('data-status'), { timeout: 30_000 }).toBe('open');
      await w.shot('agent-authorised');
    } finally {
      await stopGroup(agent, 10_000);
    }
    expect(await exited, log).toBe(0);
    // On SIGINT the agent withdrew its ask.
    await eventually(async () => (await api.asks({ owner: wallet, status: 'all' })).items.every((a) => a.status === 'cancelled'), "the agent's ask withdrawn", 30_000);
    expect(w.problems()).toEqual([]);
    await w.close();
  });

  it('stakes from the development wallet, claims its share of a fee to the base unit and unstakes, on a desktop and a phone', async () => {
    const w = await openPage(browser, stack.url);
    const { page } = w;
    await page.goto('/stake');
    const account = await connectDevWallet(page);
    const { chain, rpc, mintAuthority } = await fundWallet(account, 5n * UNITS_PER_DOUG);
    await expect.poll(() => page.getByTestId('stake-wallet-balance').innerText(), { timeout: 15_000 }).toBe('5 DOUG');

    await page.getByTestId('stake-amount').fill('9');
    await page.getByTestId('stake-submit').click();
    await expect.poll(() => page.getByTestId('stake-error').first().innerText()).toContain('Your wallet holds 5 DOUG on chain.');
    await page.getByTestId('stake-lock').fill('366');
    await expect.poll(() => page.getByTestId('stake-error').last().innerText()).toContain('from 0 to 365');
    await page.getByTestId('stake-amount').fill('2');
    await page.getByTestId('stake-lock').fill('365');
    await expect.poll(() => page.getByTestId('stake-preview').innerText()).toContain('(4×)');
    expect(await page.getByTestId('stake-weight').innerText()).toBe('8');
    await page.getByTestId('stake-submit').click();
    await page.getByTestId('stake-done').waitFor({ timeout: 30_000 });
    const row = page.locator('[data-position="1"]');
    await expect.poll(() => row.getAttribute('data-status'), { timeout: 10_000 }).toBe('staked');
    expect(await tokenBalanceOnChain(account)).toBe(3n * UNITS_PER_DOUG);
    await w.shot('stake-position');
    // The wallet's page as a provider shows the stake that admits its asks.
    await page.goto(`/providers/${account}`);
    await expect.poll(async () => (await page.getByTestId('provider-stake').innerText()).replace(/\s+/g, ' '), { timeout: 15_000 }).toBe('2 DOUG');
    await w.shot('provider-stake');
    // Offers show each provider's stake (the local agents stake none: the local minimum is 0).
    await page.goto('/offers');
    await expect.poll(async () => (await page.getByTestId('offer-stake').first().innerText()).replace(/\s+/g, ' '), { timeout: 15_000 }).toBe('0 DOUG');
    await page.goto('/stake');

    // A fee of 1 DOUG to stakers (the staking program's distribute, as a settlement calls it).
    const { weight } = (await stakingOverview(await api.chain(), account)).positions[0]!;
    const totalWeight = (await stakingOverview(await api.chain(), account)).config.totalWeight;
    const payer = await signerFromSecretKey((await generateKeypair()).secretKey);
    await airdropUpTo(rpc, payer.publicKey, 1_000_000_000);
    await faucetMint(rpc, { mint: chain.mint, decimals: 9, mintAuthority, wallet: payer.publicKey, amount: UNITS_PER_DOUG });
    const programs = stack.programs()!;
    await sendAndFinalize(rpc, { instructions: await distributeInstructions({ from: payer.publicKey, mint: chain.mint, treasury: programs.treasury, amount: UNITS_PER_DOUG, programId: programs.staking }), signers: [payer] });
    const share = (UNITS_PER_DOUG * weight) / totalWeight;
    await row.getByTestId('position-claim').waitFor({ timeout: 15_000 });
    await row.getByTestId('position-claim').click();
    await expect.poll(async () => (await row.getByTestId('position-claimable').innerText()).replace(/\s+/g, ' '), { timeout: 30_000 }).toBe('0 DOUG');
    const claimed = (await tokenBalanceOnChain(account)) - 3n * UNITS_PER_DOUG;
    expect(claimed).toBeLessThanOrEqual(share);
    expect(claimed).toBeGreaterThanOrEqual(share - 1n);
    // The network's figures, read anew: all the weight is a year's lock; the fee is on the chart.
    await page.reload();
    await expect.poll(() => page.locator('[data-band="181–365 days"] .band-value').innerText(), { timeout: 15_000 }).toBe('100%');
    await expect.poll(() => page.getByTestId('fees-chart').locator('circle').count(), { timeout: 15_000 }).toBeGreaterThanOrEqual(1);
    await w.shot('stake-network');
    // A new position's earnings, estimated from the fees of the last days (the 1 DOUG fee above).
    await page.getByTestId('stake-amount').fill('1');
    await page.getByTestId('stake-lock').fill('0');
    await expect.poll(() => page.getByTestId('stake-rate').innerText(), { timeout: 15_000 }).toMatch(/ DOUG a day$/);

    await row.getByTestId('position-unstake').click();
    await expect.poll(() => row.getAttribute('data-status'), { timeout: 30_000 }).toBe('unstaking');
    await expect.poll(() => row.getByTestId('position-wait').innerText()).toMatch(/^Withdraw in 37[12] d/);
    await w.shot('stake-unstaking');
    await page.setViewportSize(PHONE);
    await expect.poll(() => page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    await w.shot('phone-stake');
    expect(w.problems()).toEqual([]);
    await w.close();
  });

  it('stakes from a Wallet Standard wallet with one transaction prompt, extends the lock and adds to it with one more each', async () => {
    const w = await openPage(browser, stack.url);
    const { page } = w;
    await w.context.addInitScript(installTestWallet);
    await page.goto('/stake');
    const account = await connectTestWallet(page);
    await fundWallet(account, 2n * UNITS_PER_DOUG);
    await expect.poll(() => page.getByTestId('stake-wallet-balance').innerText(), { timeout: 15_000 }).toBe('2 DOUG');
    const before = await testWallet(page);
    await page.getByTestId('stake-amount').fill('1.5');
    await page.getByTestId('stake-lock').fill('0');
    await page.getByTestId('stake-submit').click();
    await page.getByTestId('stake-done').waitFor({ timeout: 30_000 });
    expect(await testWallet(page)).toMatchObject({ signs: before.signs, transactionSigns: before.transactionSigns + 1 });
    await expect.poll(() => page.locator('[data-position="1"]').getAttribute('data-status'), { timeout: 10_000 }).toBe('staked');
    expect(await tokenBalanceOnChain(account)).toBe(UNITS_PER_DOUG / 2n);
    // Extending the lock: the new lock must be longer; one more transaction prompt.
    const row = page.locator('[data-position="1"]');
    await row.getByTestId('position-extend').click();
    await row.getByTestId('extend-days').fill('0');
    await expect.poll(() => page.getByTestId('extend-error').innerText()).toContain('longer than the 0 days');
    await row.getByTestId('extend-days').fill('30');
    await expect.poll(() => row.getByTestId('extend-submit').innerText()).toBe('Lock 30 d: weight 1.8698');
    await row.getByTestId('extend-submit').click();
    await expect.poll(async () => (await row.locator('td').nth(2).innerText()).trim(), { timeout: 30_000 }).toBe('30 d');
    expect(await testWallet(page)).toMatchObject({ signs: before.signs, transactionSigns: before.transactionSigns + 2 });
    // Adding to it: at most what the wallet holds; one more prompt.
    await row.getByTestId('position-topUp').click();
    await row.getByTestId('top-up-amount').fill('0.75');
    await expect.poll(() => page.getByTestId('top-up-error').innerText()).toContain('Your wallet holds 0.5 DOUG on chain.');
    await row.getByTestId('top-up-amount').fill('0.25');
    await expect.poll(() => row.getByTestId('top-up-submit').innerText()).toBe('Add 0.25: weight 2.1814');
    await row.getByTestId('top-up-submit').click();
    await expect.poll(async () => (await row.locator('td').nth(1).innerText()).replace(/\s+/g, ' ').trim(), { timeout: 30_000 }).toBe('1.75 DOUG');
    expect(await testWallet(page)).toMatchObject({ signs: before.signs, transactionSigns: before.transactionSigns + 3 });
    expect(await tokenBalanceOnChain(account)).toBe(UNITS_PER_DOUG / 4n);
    await w.shot('wallet-standard-stake');
    expect(w.problems()).toEqual([]);
    await w.close();
  });

  it('disconnecting revokes the session key on the server', async () => {
    const w = await openPage(browser, stack.url);
    const { page } = w;
    await page.goto('/account');
    await connectDevWallet(page);
    const stored = JSON.parse((await page.evaluate(() => localStorage.getItem('doug.session'))) ?? '{}') as { seed: string; delegation: Delegation };
    const sessionKey = await keypairFromSeed(Uint8Array.from(stored.seed.match(/../g)!.map((h) => parseInt(h, 16))));
    const asSession = new DougClient({ baseUrl: stack.url, keypair: sessionKey, delegation: stored.delegation });
    // While connected, the session key acts for the wallet.
    const before = await asSession.uploadInputs(JSON.parse(inputsJson()));
    expect(before.inputSha256).toMatch(/^[0-9a-f]{64}$/);

    await page.getByRole('button', { name: 'Disconnect' }).click();
    await page.getByRole('button', { name: 'Connect wallet' }).waitFor();
    expect(await page.evaluate(() => localStorage.getItem('doug.session'))).toBeNull();
    const refused = await asSession.uploadInputs(JSON.parse(inputsJson())).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DougApiError);
    expect((refused as DougApiError).code).toBe('AUTH__KEY_REVOKED');
    await w.shot('disconnected');
    expect(w.problems()).toEqual([]);
    await w.close();
  });

  it('proposes a fee change, votes for it and executes it after the hold-up with the development wallet, on a desktop and a phone', async () => {
    const w = await openPage(browser, stack.url);
    const { page } = w;
    await page.goto('/governance');
    const account = await connectDevWallet(page);
    const { rpc } = await fundWallet(account, 5n * UNITS_PER_DOUG);
    await stakeFromPage(page, '3');
    await expect.poll(() => page.getByTestId('in-force-fee').innerText(), { timeout: 15_000 }).toBe('250 bps');
    // The form starts from the values in force and refuses what could never run.
    expect(await page.getByTestId('proposal-feeBps').inputValue()).toBe('250');
    await page.getByTestId('proposal-feeBps').fill('2001');
    await expect.poll(() => page.getByTestId('proposal-error').innerText()).toContain('feeBps must be 0 to 2000');
    await page.getByTestId('proposal-feeBps').fill('300');
    await page.getByTestId('proposal-submit').click();
    await page.getByTestId('proposal-done').waitFor({ timeout: 30_000 });
    const card = page.locator('li[data-proposal]').first();
    const index = await card.getAttribute('data-proposal');
    await expect.poll(() => card.getAttribute('data-status')).toBe('voting');
    expect(await card.getByTestId('proposal-change').innerText()).toContain('fee 300 bps');
    await card.getByTestId('vote-for').click();
    await card.getByTestId('proposal-voted').waitFor({ timeout: 30_000 });
    await expect.poll(() => card.getByTestId('proposal-for').innerText(), { timeout: 15_000 }).toBe('3');
    await w.shot('governance-voting');
    // Voting and the hold-up end (the chain's clock): anyone may execute it.
    const overview = await governanceOverview(await api.chain());
    await timeTravel(Number(overview.governance.votingSeconds + overview.governance.holdUpSeconds) + 1);
    await page.reload();
    const ready = page.locator(`li[data-proposal="${index}"]`);
    await expect.poll(() => ready.getAttribute('data-status'), { timeout: 15_000 }).toBe('executable');
    await ready.getByTestId('execute').click();
    await expect.poll(() => page.getByTestId('in-force-fee').innerText(), { timeout: 30_000 }).toBe('300 bps');
    await expect.poll(() => page.locator(`[data-testid="past-proposals"] tr[data-proposal="${index}"]`).getAttribute('data-status')).toBe('executed');
    await w.shot('governance-executed');

    // The verifier proposes a slash of this wallet's position: its provider page shows it in its appeal window.
    const verifier = await signerFromSecretKey((await loadKeypair(join(stack.dir, 'chain', 'slash-proposer.json'))).secretKey);
    const governance = await readGovernance(rpc);
    const [position] = await readPositions(rpc, account, { programId: stack.programs()!.staking });
    await sendAndFinalize(rpc, {
      instructions: await proposeSlashInstructions({ proposer: verifier.publicKey, index: governance.proposalCount, position: position!.address, amount: UNITS_PER_DOUG / 10n, evidence: new Uint8Array(32).fill(7), digests: new Uint8Array(32).fill(8), stakingProgram: stack.programs()!.staking }),
      signers: [verifier],
    });
    await page.goto(`/providers/${account}`);
    const slash = page.getByTestId('provider-slashes').locator(`tr[data-proposal="${governance.proposalCount}"]`);
    await expect.poll(() => slash.getAttribute('data-status'), { timeout: 15_000 }).toBe('appeal');
    expect((await slash.innerText()).replace(/\s+/g, ' ')).toContain('0.1 DOUG Appeal window 0707070707070707');
    await w.shot('provider-slash');
    await page.goto('/governance');
    await page.setViewportSize(PHONE);
    await expect.poll(() => page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    await w.shot('phone-governance');
    expect(w.problems()).toEqual([]);
    await w.close();
  });

  it('proposes a market’s parameters and votes against from a Wallet Standard wallet, one transaction prompt each; a refused vote is said in words', async () => {
    const w = await openPage(browser, stack.url);
    const { page } = w;
    await w.context.addInitScript(installTestWallet);
    await page.goto('/governance');
    const account = await connectTestWallet(page);
    await fundWallet(account, 2n * UNITS_PER_DOUG);
    await stakeFromPage(page, '1');
    const before = await testWallet(page);
    await page.getByTestId('proposal-target').selectOption('market');
    await page.getByTestId('proposal-market').fill('cpu');
    await page.getByTestId('proposal-market').press('Tab');
    await expect.poll(() => page.getByTestId('proposal-market').getAttribute('data-loaded')).toBe('cpu');
    await page.getByTestId('proposal-leaseMs').fill('20000');
    await page.getByTestId('proposal-submit').click();
    await page.getByTestId('proposal-done').waitFor({ timeout: 30_000 });
    expect(await testWallet(page)).toMatchObject({ signs: before.signs, transactionSigns: before.transactionSigns + 1 });
    const card = page.locator('li[data-proposal]').filter({ hasText: 'market cpu' }).first();
    expect(await card.getByTestId('proposal-change').innerText()).toContain('leaseMs 20000');
    await card.getByTestId('vote-against').click();
    await card.getByTestId('proposal-voted').waitFor({ timeout: 30_000 });
    await expect.poll(() => card.getByTestId('proposal-against').innerText(), { timeout: 15_000 }).toBe('1');
    expect(await testWallet(page)).toMatchObject({ signs: before.signs, transactionSigns: before.transactionSigns + 2 });
    // Again, once the page has forgotten the vote: refused before the wallet is asked, in words.
    await navigate(page, 'Stake');
    await navigate(page, 'Govern');
    const again = page.locator('li[data-proposal]').filter({ hasText: 'market cpu' }).first();
    await again.getByTestId('vote-against').click();
    await expect.poll(() => again.innerText(), { timeout: 15_000 }).toContain('a position votes once');
    expect(await testWallet(page)).toMatchObject({ transactionSigns: before.transactionSigns + 2 });
    await w.shot('wallet-standard-governance');
    expect(w.problems()).toEqual([]);
    await w.close();
  });
});
