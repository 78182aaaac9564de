import { createMint, createTransferCheckedInstruction, getOrCreateAssociatedTokenAccount, mintTo } from '@solana/spl-token';
import { Connection, Keypair, LAMPORTS_PER_SOL, PublicKey, Transaction, TransactionInstruction, sendAndConfirmTransaction } from '@solana/web3.js';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainInfo } from '../../durable-objects/contracts/api.ts';
import { generateKeypair, type Keypair as DougKeypair } from '../../durable-objects/contracts/auth.ts';
import { encodeBase58 } from '../../programs/client/base58.ts';
import { depositMemo } from '../../durable-objects/domain/custody/deposit.ts';
import { UNITS_PER_DOUG } from '../../durable-objects/domain/money.ts';
import { main } from '../../sdk/cli.ts';
import { DougClient } from '../../sdk/client.ts';
import { saveKeypair } from '../../sdk/keyfile.ts';
import { faucetAndDeposit, transactionSigner, transferToCustody } from '../../sdk/deposit.ts';
import { associatedTokenAddress, MEMO_PROGRAM } from '../../programs/client/address.ts';
import { sendAndFinalize, transferChecked, memo } from '../../programs/client/mint.ts';
import { solanaRpc } from '../../programs/client/rpc.ts';
import { eventually, refusal } from './agents.ts';
import { startStack, type Stack } from './stack.ts';

/**
 * Deposits end to end: `npm start`'s stack with its local chain. The faucet mints $DOUG to a wallet
 * on chain, the wallet transfers it to custody with its memo, POST /v1/deposits credits it once.
 */
let stack: Stack;
let chain: ChainInfo;
let connection: Connection;

const DOUG = UNITS_PER_DOUG;

/** A fresh wallet with a signed client and `amount` of $DOUG minted to it on chain (not deposited). */
async function wallet(amount = 100n * DOUG): Promise<{ key: DougKeypair; client: DougClient }> {
  const key = await generateKeypair();
  const client = new DougClient({ baseUrl: stack.url, keypair: key });
  const minted = await client.faucet(amount);
  expect(minted).toMatchObject({ minted: amount.toString(), wallet: key.publicKey });
  return { key, client };
}

beforeAll(async () => {
  stack = await startStack({ agents: 0, custody: 'token-account' });
  const reader = new DougClient({ baseUrl: stack.url });
  chain = await reader.chain();
  connection = new Connection(chain.rpcUrl, 'confirmed');
}, 120_000);

afterAll(async () => {
  await stack?.stop();
}, 60_000);

describe('the chain as npm start set it up', () => {
  it('GET /v1/chain names the local chain, the 9-decimal mint and custody', async () => {
    expect(chain).toEqual(stack.chain());
  });

  it('has the escrow and staking programs deployed through the upgradeable loader, and configured', async () => {
    const programs = stack.programs()!;
    const rpc = solanaRpc(stack.chain()!.rpcUrl);
    for (const id of [programs.escrow, programs.staking]) {
      const account = (await rpc.getAccountInfo(id, 'finalized')).value;
      expect(account?.executable).toBe(true);
      expect(account?.owner).toBe('BPFLoaderUpgradeab1e11111111111111111111111');
    }
    expect((await rpc.getAccountInfo(programs.escrowConfig, 'finalized')).value?.owner).toBe(programs.escrow);
    expect((await rpc.getAccountInfo(programs.stakingConfig, 'finalized')).value?.owner).toBe(programs.staking);
    const info = await connection.getParsedAccountInfo(new PublicKey(chain.mint));
    expect((info.value?.data as { parsed: { info: { decimals: number } } }).parsed.info.decimals).toBe(9);
    const custody = await connection.getParsedAccountInfo(new PublicKey(chain.custodyTokenAccount));
    expect((custody.value?.data as { parsed: { info: { owner: string; mint: string } } }).parsed.info).toMatchObject({ owner: chain.custodyAuthority, mint: chain.mint });
  });

  it('the faucet mints on chain and leaves the ledger alone', async () => {
    const { key, client } = await wallet(7n * DOUG);
    const balance = await connection.getTokenAccountBalance(new PublicKey(await associatedTokenAddress(key.publicKey, chain.mint)));
    expect(balance.value.amount).toBe((7n * DOUG).toString());
    expect(await connection.getBalance(new PublicKey(key.publicKey))).toBeGreaterThan(0); // SOL for fees
    expect((await client.account()).available).toBe('0');
  });
});

describe('POST /v1/deposits', () => {
  it('credits a deposit once when its signature is submitted three times at once', async () => {
    const { key, client } = await wallet();
    const { signature, slot } = await transferToCustody({ chain, wallet: key, amount: 10n * DOUG });
    const answers = await Promise.allSettled([client.deposit(signature), client.deposit(signature), client.deposit(signature)]);
    const credited = answers.filter((a) => a.status === 'fulfilled');
    expect(credited).toHaveLength(1);
    expect((credited[0] as PromiseFulfilledResult<unknown>).value).toEqual({ account: key.publicKey, amount: (10n * DOUG).toString(), signature, slot });
    for (const a of answers.filter((a) => a.status === 'rejected')) {
      expect((a as PromiseRejectedResult).reason).toMatchObject({ status: 409, code: 'CUSTODY__DEPOSIT_ALREADY_CREDITED' });
    }
    // Later, and by someone else: still once.
    const other = (await wallet(1n)).client;
    expect(await refusal(other.deposit(signature))).toEqual({ status: 409, code: 'CUSTODY__DEPOSIT_ALREADY_CREDITED' });
    expect((await client.account()).available).toBe((10n * DOUG).toString());
  });

  it('credits the account the memo names, whoever submits it', async () => {
    const { key } = await wallet();
    const beneficiary = await generateKeypair();
    const { signature } = await transferToCustody({ chain, wallet: key, amount: 3n * DOUG, account: beneficiary.publicKey });
    const submitter = (await wallet(1n)).client;
    expect(await submitter.deposit(signature)).toMatchObject({ account: beneficiary.publicKey, amount: (3n * DOUG).toString() });
    expect((await submitter.account(beneficiary.publicKey)).available).toBe((3n * DOUG).toString());
    expect((await submitter.account(key.publicKey)).available).toBe('0');
  });

  it('refuses a transfer of another mint into custody', async () => {
    const payer = Keypair.generate();
    await connection.confirmTransaction({ signature: await connection.requestAirdrop(payer.publicKey, LAMPORTS_PER_SOL), ...(await connection.getLatestBlockhash()) });
    const foreign = await createMint(connection, payer, payer.publicKey, null, 9);
    const from = await getOrCreateAssociatedTokenAccount(connection, payer, foreign, payer.publicKey);
    // Custody's authority holds a token account of the foreign mint too: the tokens really arrive.
    const to = await getOrCreateAssociatedTokenAccount(connection, payer, foreign, new PublicKey(chain.custodyAuthority));
    await mintTo(connection, payer, foreign, from.address, payer, 50n * DOUG);
    const tx = new Transaction().add(
      createTransferCheckedInstruction(from.address, foreign, to.address, payer.publicKey, 5n * DOUG, 9),
      new TransactionInstruction({ programId: new PublicKey(MEMO_PROGRAM), keys: [], data: Buffer.from(depositMemo(payer.publicKey.toBase58())) }),
    );
    const signature = await sendAndConfirmTransaction(connection, tx, [payer], { commitment: 'finalized' });
    const { client } = await wallet(1n);
    expect(await refusal(client.deposit(signature))).toEqual({ status: 422, code: 'CUSTODY__DEPOSIT_WRONG_MINT' });
    expect((await client.account(payer.publicKey.toBase58())).available).toBe('0');
  });

  it('refuses a transfer of $DOUG to another destination, and one without a memo', async () => {
    const { key, client } = await wallet();
    const { key: elsewhere } = await wallet(1n);
    const source = await associatedTokenAddress(key.publicKey, chain.mint);
    const signer = await transactionSigner(key);
    const send = (destination: string, text: string | null) =>
      sendAndFinalize(solanaRpc(chain.rpcUrl), {
        instructions: [transferChecked({ source, mint: chain.mint, destination, owner: key.publicKey, amount: 2n * DOUG, decimals: 9 }), ...(text ? [memo(text)] : [])],
        signers: [signer],
      });
    const wrong = await send(await associatedTokenAddress(elsewhere.publicKey, chain.mint), depositMemo(key.publicKey));
    expect(await refusal(client.deposit(wrong.signature))).toEqual({ status: 422, code: 'CUSTODY__DEPOSIT_WRONG_DESTINATION' });
    const noMemo = await send(chain.custodyTokenAccount, null);
    expect(await refusal(client.deposit(noMemo.signature))).toEqual({ status: 422, code: 'CUSTODY__DEPOSIT_NO_MEMO' });
    expect((await client.account()).available).toBe('0');
  });

  it('refuses an unknown signature, and one that is not a signature', async () => {
    const { client } = await wallet(1n);
    expect(await refusal(client.deposit(encodeBase58(crypto.getRandomValues(new Uint8Array(64)))))).toEqual({ status: 404, code: 'CUSTODY__DEPOSIT_UNKNOWN' });
    expect(await refusal(client.deposit('not-a-signature'))).toEqual({ status: 400, code: 'API__INVALID_INPUT' });
  });

  it('faucetAndDeposit funds the ledger in one call', async () => {
    const key = await generateKeypair();
    const client = new DougClient({ baseUrl: stack.url, keypair: key });
    const r = await faucetAndDeposit(client, key, 4n * DOUG);
    expect(r.deposit).toMatchObject({ account: key.publicKey, amount: (4n * DOUG).toString() });
    expect((await client.account()).available).toBe((4n * DOUG).toString());
  });
});

describe('the CLI', () => {
  /** Runs `doug ARGS --url <stack> --key <file>` in-process. */
  async function doug(keyFile: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await main([...args, '--url', stack.url, '--key', keyFile], { stdout: (t) => (out += t), stderr: (t) => (err += t), env: {} });
    return { code, out, err };
  }

  it('doug faucet --deposit mints and deposits; doug deposit moves more; a short wallet is told so', async () => {
    const key = await generateKeypair();
    const file = join(stack.dir, `cli-${key.publicKey}.json`);
    await saveKeypair(file, key);
    const funded = await doug(file, 'faucet', '6', '--deposit');
    expect(funded.code, funded.err).toBe(0);
    expect(funded.out).toContain('deposited');
    const client = new DougClient({ baseUrl: stack.url });
    expect((await client.account(key.publicKey)).available).toBe((6n * DOUG).toString());

    expect((await doug(file, 'faucet', '2')).out).toContain('doug deposit 2');
    const more = await doug(file, 'deposit', '1.5', '--json');
    expect(more.code, more.err).toBe(0);
    const res = JSON.parse(more.out) as { signature: string; amount: string };
    expect(res.amount).toBe('1500000000');
    expect((await client.account(key.publicKey)).available).toBe('7500000000');
    // The same transfer again, by signature: refused, nothing credited twice.
    const again = await doug(file, 'deposit', '--signature', res.signature);
    expect(again.code).toBe(1);
    expect(again.err).toContain('CUSTODY__DEPOSIT_ALREADY_CREDITED');
    const short = await doug(file, 'deposit', '1');
    expect(short.code).toBe(1);
    expect(short.err).toContain('CLI__WALLET_BALANCE_LOW');
    const audit = await doug(file, 'audit');
    expect(audit.out).toContain('custody on chain');
  });
});

describe('GET /v1/audit', () => {
  it('reconciles custody on chain with the ledger after the deposits', async () => {
    const reader = new DougClient({ baseUrl: stack.url });
    const onChain = BigInt((await connection.getTokenAccountBalance(new PublicKey(chain.custodyTokenAccount), 'finalized')).value.amount);
    // 10 + 3 + 4 + 6 + 1.5 DOUG deposited and credited, and 2 DOUG sent to custody without a memo
    // (never credited: custody holds it unclaimed); the other refused transfers never reached custody as $DOUG.
    const credited = 24_500_000_000n;
    expect(onChain).toBe(credited + 2n * DOUG);
    const audit = await eventually(async () => {
      const a = await reader.audit();
      return a.custody?.expected === credited.toString() ? a : null;
    }, 'an audit that has caught up with the deposits');
    expect(audit.custody).toEqual({ onChain: onChain.toString(), expected: credited.toString(), withdrawalsInFlight: '0', unclaimed: (2n * DOUG).toString(), ok: true });
    expect(audit.ok).toBe(true);
    expect(audit.credited).toBe(credited.toString());
  });
});

describe('a restart of npm start', () => {
  it('keeps the mint, custody and the deposits: setup finds them on the saved chain', async () => {
    const key = await generateKeypair();
    const client = new DougClient({ baseUrl: stack.url, keypair: key });
    const { deposit } = await faucetAndDeposit(client, key, 2n * DOUG);
    const before = stack.chain()!;
    const custodyBefore = (await new DougClient({ baseUrl: stack.url }).audit()).custody!.onChain;
    await stack.restart();
    const after = await new DougClient({ baseUrl: stack.url }).chain();
    expect(after).toMatchObject({ mint: before.mint, custodyTokenAccount: before.custodyTokenAccount, custodyAuthority: before.custodyAuthority });
    expect(after).toEqual(stack.chain());
    const onChain = (await solanaRpc(after.rpcUrl).getTokenAccountBalance(after.custodyTokenAccount, 'finalized')).value.amount;
    expect(onChain).toBe(custodyBefore);
    expect(await refusal(client.deposit(deposit!.signature))).toEqual({ status: 409, code: 'CUSTODY__DEPOSIT_ALREADY_CREDITED' });
    expect((await client.account()).available).toBe((2n * DOUG).toString());
    // The wallet's token account and the faucet still work on the restored chain.
    expect((await faucetAndDeposit(client, key, DOUG)).deposit).toMatchObject({ amount: DOUG.toString() });
  });
});
