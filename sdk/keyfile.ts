import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

import { generateKeypair, keypairFromSeed } from '../durable-objects/contracts/auth.ts';
import type { Keypair } from '../durable-objects/contracts/auth.ts';
import { encodeBase58 } from '../programs/client/base58.ts';

/**
 * Key files in the Solana CLI format: a JSON array of 64 numbers, the 32-byte seed then the 32-byte
 * public key. Written with mode 0600. Nothing here ever prints or returns the secret in a message.
 */

/** Where the CLI keeps the wallet key unless `--key` or `DOUG_KEY` says otherwise. */
export const DEFAULT_KEY_PATH = '~/.config/doug/id.json';

/** A key file that is missing, malformed or in the way. */
export class KeyFileError extends Error {
  readonly code: 'KEYFILE__NOT_FOUND' | 'KEYFILE__MALFORMED' | 'KEYFILE__EXISTS';
  readonly path: string;

  constructor(code: KeyFileError['code'], path: string, message: string) {
    super(message);
    this.name = 'KeyFileError';
    this.code = code;
    this.path = path;
  }
}

/** The key path in force: the flag, then `DOUG_KEY`, then the default; `~` expands to `home`. */
export function resolveKeyPath(o: { flag?: string; env?: Record<string, string | undefined>; home?: string }): string {
  const raw = o.flag ?? (o.env?.DOUG_KEY || undefined) ?? DEFAULT_KEY_PATH;
  const home = o.home ?? homedir();
  if (raw === '~') return home;
  if (raw.startsWith('~/')) return join(home, raw.slice(2));
  return resolve(raw);
}

/** The key file's text: a JSON array of the 64 secret key bytes. */
export function encodeKeyFile(keypair: Keypair): string {
  return JSON.stringify(Array.from(keypair.secretKey)) + '\n';
}

/** Reads a key file's text; checks that the public half matches the seed. */
export async function decodeKeyFile(text: string, path = '<key file>'): Promise<Keypair> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new KeyFileError('KEYFILE__MALFORMED', path, `${path} is not JSON; expected an array of 64 numbers`);
  }
  if (!Array.isArray(value) || value.length !== 64 || !value.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) {
    throw new KeyFileError('KEYFILE__MALFORMED', path, `${path} is not a key file; expected an array of 64 numbers from 0 to 255`);
  }
  const bytes = Uint8Array.from(value as number[]);
  const keypair = await keypairFromSeed(bytes.slice(0, 32));
  if (keypair.publicKey !== encodeBase58(bytes.slice(32))) {
    throw new KeyFileError('KEYFILE__MALFORMED', path, `${path} is corrupt: its public key does not match its seed`);
  }
  return keypair;
}

/** Loads a keypair from a Solana-format key file; a missing one's error suggests `o.keygen` (default `doug keygen`). */
export async function loadKeypair(path: string, o: { keygen?: string } = {}): Promise<Keypair> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new KeyFileError('KEYFILE__NOT_FOUND', path, `no key file at ${path}; run \`${o.keygen ?? 'doug keygen'}\` or pass --key`);
    throw err;
  }
  return decodeKeyFile(text, path);
}

/** Loads the key file, or makes a key and saves it there (mode 0600) when there is none; `created` says which. */
export async function loadOrCreateKeypair(path: string): Promise<{ keypair: Keypair; created: boolean }> {
  try {
    return { keypair: await loadKeypair(path), created: false };
  } catch (err) {
    if (!(err instanceof KeyFileError) || err.code !== 'KEYFILE__NOT_FOUND') throw err;
  }
  const keypair = await generateKeypair();
  await saveKeypair(path, keypair);
  return { keypair, created: true };
}

/** Writes a keypair with mode 0600, creating the folder (0700); refuses to replace a file unless forced. */
export async function saveKeypair(path: string, keypair: Keypair, o: { force?: boolean } = {}): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const text = encodeKeyFile(keypair);
  if (!o.force) {
    let handle;
    try {
      handle = await open(path, 'wx', 0o600);
    } catch (err) {
      if (isErrno(err, 'EEXIST')) throw new KeyFileError('KEYFILE__EXISTS', path, `${path} already exists; pass --force to replace it`);
      throw err;
    }
    try {
      await handle.writeFile(text);
    } finally {
      await handle.close();
    }
    await chmod(path, 0o600); // the umask may have narrowed it; never widen beyond 0600
    return;
  }
  // Forced: write beside it and rename over, so a crash never leaves half a key.
  const tmp = `${path}.${process.pid}.tmp`;
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(text);
  } catch (err) {
    await handle.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
