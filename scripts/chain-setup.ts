// Bootstraps $DOUG on a chain for `npm start` (idempotent; through Umi, sdk/umi.ts):
//   - keys, made once and kept in DIR with mode 0600 (Solana key files): the mint authority
//     (mint-authority.json), the custody authority (custody-authority.json) and the mint's own
//     address key (mint.json, so that a chain whose state was wiped gets the same mint back);
//   - SOL for both authorities by airdrop (topped up to 100 SOL at every start);
//   - the $DOUG mint (9 decimals, no freeze authority) and custody's token account (the custody
//     authority's associated token account), each created only when missing on chain;
//   - DIR/config.json {rpcUrl, mint, decimals, custodyTokenAccount, custodyAuthority} and
//     DIR/worker.env (0600) with the Worker's secrets CUSTODY_AUTHORITY_KEY and MINT_AUTHORITY_KEY
//     (base58 of the 64-byte secret keys), for `wrangler dev --env-file`.
// Usage: node --import tsx scripts/chain-setup.ts --rpc http://127.0.0.1:8899 --dir .local/chain
// Prints config.json's content (never a secret).
import { chmod, mkdir, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { publicKey } from '@metaplex-foundation/umi';
import type { Keypair } from '../durable-objects/contracts/auth.ts';
import { encodeBase58 } from '../programs/client/base58.ts';
import { loadOrCreateKeypair } from '../sdk/keyfile.ts';
import { DOUG_DECIMALS, airdropUpTo, createDougMint, dougUmi, ensureTokenAccount, signerOf } from '../sdk/umi.ts';

export interface LocalChainConfig {
  rpcUrl: string;
  mint: string;
  decimals: number;
  custodyTokenAccount: string;
  custodyAuthority: string;
}

const AUTHORITY_LAMPORTS = 100_000_000_000n;

/** Loads a key file, or makes and saves a new key when there is none. */
async function key(path: string): Promise<Keypair> {
  return (await loadOrCreateKeypair(path)).keypair;
}

/** Writes a file atomically with mode 0600. */
async function writePrivate(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

/** Creates what is missing and answers the chain configuration the Worker needs. */
export async function setupChain(o: { rpcUrl: string; dir: string }): Promise<LocalChainConfig> {
  await mkdir(o.dir, { recursive: true, mode: 0o700 });
  await chmod(o.dir, 0o700); // the chain may have made it first, or an older run wider
  const mintAuthority = await key(join(o.dir, 'mint-authority.json'));
  const custodyAuthority = await key(join(o.dir, 'custody-authority.json'));
  const mintKey = await key(join(o.dir, 'mint.json'));

  const umi = dougUmi(o.rpcUrl, mintAuthority.secretKey);
  await airdropUpTo(umi, mintAuthority.publicKey, AUTHORITY_LAMPORTS);
  await airdropUpTo(umi, custodyAuthority.publicKey, AUTHORITY_LAMPORTS);
  if (!(await umi.rpc.accountExists(publicKey(mintKey.publicKey), { commitment: 'finalized' }))) {
    await createDougMint(umi, { mint: signerOf(umi, mintKey.secretKey), mintAuthority: mintAuthority.publicKey, decimals: DOUG_DECIMALS });
  }
  const custodyTokenAccount = await ensureTokenAccount(dougUmi(o.rpcUrl, custodyAuthority.secretKey), { owner: custodyAuthority.publicKey, mint: mintKey.publicKey });

  const config: LocalChainConfig = { rpcUrl: o.rpcUrl, mint: mintKey.publicKey, decimals: DOUG_DECIMALS, custodyTokenAccount, custodyAuthority: custodyAuthority.publicKey };
  await writePrivate(join(o.dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  await writePrivate(
    join(o.dir, 'worker.env'),
    `# Secrets for wrangler dev --env-file (written by scripts/chain-setup.ts; never commit)\nCUSTODY_AUTHORITY_KEY=${encodeBase58(custodyAuthority.secretKey)}\nMINT_AUTHORITY_KEY=${encodeBase58(mintAuthority.secretKey)}\n`,
  );
  return config;
}

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rpcUrl = flag('rpc');
  const dir = flag('dir');
  if (!rpcUrl || !dir) {
    process.stderr.write('usage: node --import tsx scripts/chain-setup.ts --rpc URL --dir DIR\n');
    process.exit(2);
  }
  try {
    process.stdout.write(JSON.stringify(await setupChain({ rpcUrl, dir })) + '\n');
  } catch (err) {
    process.stderr.write(`chain setup failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
