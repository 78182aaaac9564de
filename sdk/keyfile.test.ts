import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { generateKeypair, keypairFromSeed, signText, verifyText } from '../durable-objects/contracts/auth.ts';
import { decodeBase58 } from '../programs/client/base58.ts';
import { KeyFileError, loadKeypair, loadOrCreateKeypair, resolveKeyPath, saveKeypair } from './keyfile.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'doug-key-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const hex = (h: string) => Uint8Array.from(h.match(/../g)!.map((b) => parseInt(b, 16)));
// RFC 8032 section 7.1, test 1.
const RFC_SEED = hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
const RFC_PUBLIC = hex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');

describe('a saved key file', () => {
  it('loads back as the same keypair that still signs', async () => {
    const path = join(dir, 'nested', 'id.json');
    const kp = await generateKeypair();
    await saveKeypair(path, kp);
    const loaded = await loadKeypair(path);
    expect(loaded.publicKey).toBe(kp.publicKey);
    expect(Array.from(loaded.secretKey)).toEqual(Array.from(kp.secretKey));
    expect(await verifyText(kp.publicKey, await signText(loaded, 'hello'), 'hello')).toBe(true);
  });

  it('is the Solana CLI format: 64 numbers, seed then public key', async () => {
    const path = join(dir, 'id.json');
    const kp = await keypairFromSeed(RFC_SEED);
    await saveKeypair(path, kp);
    const numbers = JSON.parse(await readFile(path, 'utf8')) as number[];
    expect(numbers).toHaveLength(64);
    expect(numbers.slice(0, 32)).toEqual(Array.from(RFC_SEED));
    expect(numbers.slice(32)).toEqual(Array.from(RFC_PUBLIC));
    expect(decodeBase58(kp.publicKey)).toEqual(RFC_PUBLIC);
  });

  it('is readable by its owner only (0600) in a 0700 folder', async () => {
    const path = join(dir, 'fresh', 'id.json');
    await saveKeypair(path, await generateKeypair());
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'fresh'))).mode & 0o777).toBe(0o700);
  });
});

describe('saving over an existing key file', () => {
  it('is refused without force, leaving the old key in place', async () => {
    const path = join(dir, 'id.json');
    const first = await generateKeypair();
    await saveKeypair(path, first);
    const err = await saveKeypair(path, await generateKeypair()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyFileError);
    expect(err).toMatchObject({ code: 'KEYFILE__EXISTS' });
    expect((await loadKeypair(path)).publicKey).toBe(first.publicKey);
  });

  it('replaces it with force, and narrows a loose mode to 0600', async () => {
    const path = join(dir, 'id.json');
    await writeFile(path, 'old', { mode: 0o644 });
    const kp = await generateKeypair();
    await saveKeypair(path, kp, { force: true });
    expect((await loadKeypair(path)).publicKey).toBe(kp.publicKey);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });
});

describe('a key file that may not exist yet', () => {
  it('is made once (mode 0600) and loaded the same every time after', async () => {
    const path = join(dir, 'nested', 'agent.json');
    const first = await loadOrCreateKeypair(path);
    expect(first.created).toBe(true);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const again = await loadOrCreateKeypair(path);
    expect(again.created).toBe(false);
    expect(again.keypair.publicKey).toBe(first.keypair.publicKey);
  });

  it('is not replaced when it is there but malformed', async () => {
    const path = join(dir, 'bad.json');
    await writeFile(path, 'not a key');
    await expect(loadOrCreateKeypair(path)).rejects.toMatchObject({ code: 'KEYFILE__MALFORMED' });
    expect(await readFile(path, 'utf8')).toBe('not a key');
  });
});

describe('loading a bad key file', () => {
  it('is KEYFILE__NOT_FOUND when missing', async () => {
    await expect(loadKeypair(join(dir, 'none.json'))).rejects.toMatchObject({ code: 'KEYFILE__NOT_FOUND' });
  });

  it.each([
    ['not JSON', 'secret-ish text'],
    ['63 numbers', JSON.stringify(new Array(63).fill(1))],
    ['a number over 255', JSON.stringify([256, ...new Array(63).fill(1)])],
    ['an object', '{"a":1}'],
  ])('is KEYFILE__MALFORMED for %s and does not echo the content', async (_name, text) => {
    const path = join(dir, 'bad.json');
    await writeFile(path, text);
    const err = (await loadKeypair(path).catch((e: unknown) => e)) as KeyFileError;
    expect(err.code).toBe('KEYFILE__MALFORMED');
    expect(err.message).not.toContain(text);
  });

  it('is KEYFILE__MALFORMED when the public half does not match the seed', async () => {
    const path = join(dir, 'id.json');
    const bytes = [...RFC_SEED, ...RFC_PUBLIC];
    bytes[63] = bytes[63]! ^ 1;
    await writeFile(path, JSON.stringify(bytes));
    await expect(loadKeypair(path)).rejects.toMatchObject({ code: 'KEYFILE__MALFORMED', message: expect.stringContaining('does not match') });
  });
});

describe('the key path', () => {
  it('is the flag, else DOUG_KEY, else ~/.config/doug/id.json', () => {
    expect(resolveKeyPath({ flag: '/a/b.json', env: { DOUG_KEY: '/c.json' }, home: '/h' })).toBe('/a/b.json');
    expect(resolveKeyPath({ env: { DOUG_KEY: '~/k.json' }, home: '/h' })).toBe('/h/k.json');
    expect(resolveKeyPath({ env: { DOUG_KEY: '' }, home: '/h' })).toBe('/h/.config/doug/id.json');
    expect(resolveKeyPath({ env: {}, home: '/h' })).toBe('/h/.config/doug/id.json');
  });
});
