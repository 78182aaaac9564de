/**
 * Test support for the on-chain programs: a local chain (LiteSVM) with a clock the test moves, a
 * $DOUG-like mint, funded wallets, programs deployed through the upgradeable loader, and the
 * generated Umi clients' instructions run through our own signer. Umi only builds instructions here.
 */
import { createNoopSigner, publicKey } from '@metaplex-foundation/umi';
import { createUmi } from '@metaplex-foundation/umi-bundle-defaults';
import { Keypair } from '@solana/web3.js';
import { associatedTokenAddress, TOKEN_PROGRAM } from '../client/address.ts';
import { createAccount, deployProgram, type Send } from '../client/deploy.ts';
import { createAssociatedTokenAccountIdempotent, mintToChecked } from '../client/mint.ts';
import { keyBytes, signerFromSecretKey, signTransaction, type Instruction, type TransactionSigner } from '../client/tx.ts';
import { Chain, type TransactionRecord } from '../local-chain/chain.ts';

export const DECIMALS = 9;
export const START_MS = 1_800_000_000_000;

export const umi = createUmi('http://127.0.0.1:9');
export const noop = (key: string) => createNoopSigner(publicKey(key));
export const pk = (key: string) => publicKey(key);
export const newSigner = () => signerFromSecretKey(Keypair.generate().secretKey);

export { instructionsOf } from '../client/builders.ts';

/** InitializeMint2 (SPL Token 20): decimals, mint authority, no freeze authority. */
function initializeMint(mint: string, authority: string): Instruction {
  const data = new Uint8Array(1 + 1 + 32 + 1);
  data[0] = 20;
  data[1] = DECIMALS;
  data.set(keyBytes(authority), 2);
  return { programId: TOKEN_PROGRAM, keys: [{ pubkey: mint, isSigner: false, isWritable: true }], data };
}

/**
 * A world on a fresh chain whose clock only the test moves, or on `o.chain` (a served local chain,
 * for benchmarks) whose clock is its own.
 */
export async function chainWorld(o: { chain?: Chain } = {}) {
  let nowMs = START_MS;
  const chain = o.chain ?? new Chain({ slotMs: 0, now: () => nowMs });
  const admin = await newSigner();
  chain.airdrop(admin.publicKey, 1_000_000_000_000n);
  const send = async (instructions: Instruction[], signers: TransactionSigner[]): Promise<TransactionRecord> => {
    const tx = await signTransaction({ payer: signers[0]!.publicKey, recentBlockhash: chain.latestBlockhash.blockhash, instructions, signers });
    const record = chain.getTransaction(chain.send(tx.bytes))!;
    // A new blockhash after each landed transaction, so that a repeat is a new transaction the program judges.
    chain.advanceSlots(1);
    return record;
  };
  const rent = async (n: number) => chain.minimumBalanceForRentExemption(n);
  const deploy = async (files: { so: Uint8Array; keypair: Uint8Array }) => {
    const sendAny: Send = (instructions, signers) => send(instructions, signers);
    await deployProgram(sendAny, { elf: files.so, payer: admin, authority: admin, buffer: await newSigner(), program: await signerFromSecretKey(files.keypair), rentExempt: rent });
    chain.advanceSlots(1);
  };

  const mint = await newSigner();
  await send([createAccount({ payer: admin.publicKey, account: mint.publicKey, lamports: await rent(82), space: 82, owner: TOKEN_PROGRAM }), initializeMint(mint.publicKey, admin.publicKey)], [admin, mint]);

  /** A wallet with SOL for fees and `tokens` base units in its associated token account. */
  const wallet = async (tokens = 0n) => {
    const signer = await newSigner();
    chain.airdrop(signer.publicKey, 10_000_000_000n);
    const ata = await associatedTokenAddress(signer.publicKey, mint.publicKey);
    const ixs = [createAssociatedTokenAccountIdempotent({ payer: admin.publicKey, tokenAccount: ata, owner: signer.publicKey, mint: mint.publicKey })];
    if (tokens > 0n) ixs.push(mintToChecked({ mint: mint.publicKey, tokenAccount: ata, mintAuthority: admin.publicKey, amount: tokens, decimals: DECIMALS }));
    await send(ixs, [admin]);
    return { signer, key: signer.publicKey, ata };
  };
  const balance = (tokenAccount: string): bigint => {
    const data = chain.getAccount(tokenAccount)?.data;
    return data ? new DataView(data.buffer, data.byteOffset).getBigUint64(64, true) : 0n;
  };
  /** Moves the clock `seconds` on (one slot, so the programs see it). */
  const advance = (seconds: number) => {
    nowMs += seconds * 1000;
    chain.advanceSlots(1);
  };
  const now = () => Math.floor(nowMs / 1000);
  return { chain, send, deploy, admin, mint, wallet, balance, advance, now, reader: accountReader(chain) };
}

export type ChainWorld = Awaited<ReturnType<typeof chainWorld>>;
export type Wallet = Awaited<ReturnType<ChainWorld['wallet']>>;

/** Reads accounts for the generated clients' fetch functions straight from the local chain. */
export function accountReader(chain: Chain) {
  return {
    rpc: {
      getAccount: async (address: { toString(): string }) => {
        const a = chain.getAccount(address.toString());
        return a
          ? { exists: true as const, publicKey: address, owner: pk(a.owner), lamports: { basisPoints: a.lamports, identifier: 'SOL', decimals: 9 }, executable: a.executable, data: a.data }
          : { exists: false as const, publicKey: address };
      },
    },
  } as never;
}

