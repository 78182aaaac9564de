import {
  createAccount,
  createIdempotentAssociatedToken,
  findAssociatedTokenPda,
  getMintSize,
  initializeMint2,
  mintTokensTo,
  mplToolbox,
  transferTokensChecked,
} from '@metaplex-foundation/mpl-toolbox';
import { createSignerFromKeypair, keypairIdentity, lamports, publicKey, transactionBuilder, type KeypairSigner, type PublicKey, type Umi, type WrappedInstruction } from '@metaplex-foundation/umi';
import { createUmi } from '@metaplex-foundation/umi-bundle-defaults';
import { base58 } from '@metaplex-foundation/umi/serializers';
import { MEMO_PROGRAM } from '../programs/client/address.ts';

/*
 * $DOUG token operations for Node clients (the CLI's deposit, `npm start`'s chain setup) through
 * Umi with its web3.js v1 adapters (umi-bundle-defaults: web3.js RPC and transaction factory) and
 * mpl-toolbox's SPL instructions. Every send waits for `finalized`, which deposits need.
 *
 * mpl-toolbox notes (0.11.5): its createMint creates the account through mpl-system-extras'
 * createAccountWithRent, a program that exists on devnet and mainnet but not on a bare validator or
 * the local chain, so the mint is made here with the System program's createAccount and
 * initializeMint2; createIdempotentAssociatedToken does not derive `ata` (it sends the program id
 * in its place), so the address is always passed; and addMemo writes the text Borsh-encoded (a u32
 * length before it) to the legacy Memo v1 program, so the memo here is a plain SPL Memo v3
 * instruction whose data is the UTF-8 text, as every wallet and explorer writes and reads it.
 */

/** A memo instruction carrying `text` as UTF-8, signed by no one. */
export function memoInstruction(text: string): WrappedInstruction {
  return { instruction: { programId: publicKey(MEMO_PROGRAM), keys: [], data: new TextEncoder().encode(text) }, signers: [], bytesCreatedOnChain: 0 };
}

export const DOUG_DECIMALS = 9;

/** A Umi for `rpcUrl` whose identity and fee payer is the 64-byte Solana secret key given. */
export function dougUmi(rpcUrl: string, secretKey: Uint8Array): Umi {
  const umi = createUmi(rpcUrl, { commitment: 'finalized' }).use(mplToolbox());
  umi.use(keypairIdentity(umi.eddsa.createKeypairFromSecretKey(secretKey)));
  return umi;
}

/** A signer for another 64-byte secret key, in this Umi. */
export function signerOf(umi: Umi, secretKey: Uint8Array): KeypairSigner {
  return createSignerFromKeypair(umi, umi.eddsa.createKeypairFromSecretKey(secretKey));
}

const sent = async (umi: Umi, builder: ReturnType<typeof transactionBuilder>): Promise<string> => {
  const r = await builder.sendAndConfirm(umi, { send: { commitment: 'confirmed' }, confirm: { commitment: 'finalized' } });
  const signature = base58.deserialize(r.signature)[0];
  if (r.result.value.err) throw new Error(`transaction ${signature} failed: ${JSON.stringify(r.result.value.err)}`);
  return signature;
};

/** Creates a mint (no freeze authority) whose mint authority is `mintAuthority`; the identity pays. */
export async function createDougMint(umi: Umi, o: { mint: KeypairSigner; mintAuthority: string; decimals?: number }): Promise<string> {
  const space = getMintSize();
  return sent(
    umi,
    transactionBuilder()
      .add(createAccount(umi, { newAccount: o.mint, space, lamports: await umi.rpc.getRent(space), programId: umi.programs.get('splToken').publicKey }))
      .add(initializeMint2(umi, { mint: o.mint.publicKey, decimals: o.decimals ?? DOUG_DECIMALS, mintAuthority: publicKey(o.mintAuthority), freezeAuthority: null })),
  );
}

/** `owner`'s associated token account for `mint`. */
export function tokenAccountOf(umi: Umi, owner: string, mint: string): string {
  return findAssociatedTokenPda(umi, { mint: publicKey(mint), owner: publicKey(owner) })[0].toString();
}

/** Creates `owner`'s associated token account for `mint` if it is missing (the identity pays); answers its address. */
export async function ensureTokenAccount(umi: Umi, o: { owner: string; mint: string }): Promise<string> {
  const ata = tokenAccountOf(umi, o.owner, o.mint);
  if (!(await umi.rpc.accountExists(publicKey(ata), { commitment: 'finalized' }))) {
    await sent(umi, transactionBuilder().add(createIdempotentAssociatedToken(umi, { ata: publicKey(ata), mint: publicKey(o.mint), owner: publicKey(o.owner) })));
  }
  return ata;
}

/** Mints `amount` base units to `owner`'s token account (created if missing), signed by `mintAuthority`. */
export async function mintTo(umi: Umi, o: { mint: string; owner: string; amount: bigint; mintAuthority: KeypairSigner }): Promise<string> {
  const ata = tokenAccountOf(umi, o.owner, o.mint);
  return sent(
    umi,
    transactionBuilder()
      .add(createIdempotentAssociatedToken(umi, { ata: publicKey(ata), mint: publicKey(o.mint), owner: publicKey(o.owner) }))
      .add(mintTokensTo(umi, { mint: publicKey(o.mint), token: publicKey(ata), amount: o.amount, mintAuthority: o.mintAuthority })),
  );
}

/** Lamports held by `address`. */
export async function solBalance(umi: Umi, address: string): Promise<bigint> {
  return (await umi.rpc.getBalance(publicKey(address))).basisPoints;
}

/** Tops `address` up to `atLeast` lamports by airdrop (local chain, devnet, test validators). */
export async function airdropUpTo(umi: Umi, address: string, atLeast: bigint): Promise<void> {
  const have = await solBalance(umi, address);
  if (have < atLeast) await umi.rpc.airdrop(publicKey(address), lamports(atLeast - have), { commitment: 'finalized' });
}

/** The base units `owner` holds of `mint` (0 when it has no token account). */
export async function tokenBalance(umi: Umi, o: { owner: string; mint: string }): Promise<bigint> {
  const ata = publicKey(tokenAccountOf(umi, o.owner, o.mint));
  const account = await umi.rpc.getAccount(ata, { commitment: 'finalized' });
  if (!account.exists) return 0n;
  // SPL token account layout: mint (32), owner (32), amount (u64 little-endian).
  return new DataView(account.data.buffer, account.data.byteOffset + 64, 8).getBigUint64(0, true);
}

/**
 * A deposit: TransferChecked of `amount` from the identity's token account to custody, with the memo
 * naming the account to credit, in one transaction; answers its signature once finalized.
 */
export async function depositToCustody(umi: Umi, o: { mint: string; decimals: number; custodyTokenAccount: string; amount: bigint; memo: string }): Promise<string> {
  const source = publicKey(tokenAccountOf(umi, umi.identity.publicKey.toString(), o.mint));
  return sent(
    umi,
    transactionBuilder()
      .add(transferTokensChecked(umi, { source, mint: publicKey(o.mint), destination: publicKey(o.custodyTokenAccount), amount: o.amount, decimals: o.decimals }))
      .add(memoInstruction(o.memo)),
  );
}

export type { PublicKey, Umi };
