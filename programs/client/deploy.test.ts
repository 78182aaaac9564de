import { readFileSync } from 'node:fs';
import { Keypair } from '@solana/web3.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalChain, type LocalChain } from '../local-chain/server.ts';
import { link } from '../build/link.ts';
import { deployedElf, ensureProgram, programDataAddress } from './deploy.ts';
import { solanaRpc } from './rpc.ts';
import { signerFromSecretKey } from './tx.ts';

// ensureProgram through a served local chain's RPC, as `npm start` runs it: deploy once, leave an
// unchanged program alone, upgrade a changed one.
describe('ensureProgram', () => {
  let chain: LocalChain;
  beforeAll(async () => {
    chain = await startLocalChain({ port: 0, slotMs: 20 });
  });
  afterAll(async () => {
    await chain.stop();
  });

  it('deploys a missing program, leaves the same code alone and upgrades changed code', async () => {
    const rpc = solanaRpc(chain.url);
    const payer = await signerFromSecretKey(Keypair.generate().secretKey);
    chain.chain.airdrop(payer.publicKey, 100_000_000_000n);
    const program = await signerFromSecretKey(Keypair.generate().secretKey);
    const buffer = () => signerFromSecretKey(Keypair.generate().secretKey);
    const elf = new Uint8Array(readFileSync(new URL('../escrow/escrow.so', import.meta.url)));
    const o = { elf, program, authority: payer, payer, buffer };
    expect(await ensureProgram(rpc, o)).toBe('deployed');
    expect(await ensureProgram(rpc, o)).toBe('unchanged');
    // Other code within the room the first deployment left (twice its size).
    const staking = new Uint8Array(readFileSync(new URL('../staking/staking.so', import.meta.url)));
    expect(staking.length).toBeLessThanOrEqual(2 * elf.length);
    expect(await ensureProgram(rpc, { ...o, elf: staking })).toBe('upgraded');
    const data = chain.chain.getAccount(await programDataAddress(program.publicKey))!.data;
    expect(Buffer.compare(deployedElf(data, staking.length), staking)).toBe(0);
    expect(await ensureProgram(rpc, { ...o, elf: staking })).toBe('unchanged');
  });

  it('gives a program more room when an upgrade is bigger than its program-data account', async () => {
    const rpc = solanaRpc(chain.url);
    const payer = await signerFromSecretKey(Keypair.generate().secretKey);
    chain.chain.airdrop(payer.publicKey, 100_000_000_000n);
    const program = await signerFromSecretKey(Keypair.generate().secretKey);
    const buffer = () => signerFromSecretKey(Keypair.generate().secretKey);
    const small = link(new Uint8Array(readFileSync(new URL('../build/fixtures/hello.o', import.meta.url)))).so;
    const big = new Uint8Array(readFileSync(new URL('../escrow/escrow.so', import.meta.url)));
    expect(big.length).toBeGreaterThan(2 * small.length);
    const o = { program, authority: payer, payer, buffer };
    expect(await ensureProgram(rpc, { ...o, elf: small })).toBe('deployed');
    chain.chain.advanceSlots(1); // the loader refuses to extend a program in the slot it was deployed in
    expect(await ensureProgram(rpc, { ...o, elf: big })).toBe('upgraded');
    const data = chain.chain.getAccount(await programDataAddress(program.publicKey))!.data;
    expect(Buffer.compare(deployedElf(data, big.length), big)).toBe(0);
    expect(await ensureProgram(rpc, { ...o, elf: big })).toBe('unchanged');
  });
});
