import { chmod, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalChain, type LocalChain } from '../programs/local-chain/server.ts';
import { setupChain } from './chain-setup.ts';

/**
 * What `npm start` writes under DOUG_LOCAL_DIR/chain holds keys (the mint's and custody's
 * authorities, the Worker's secrets) or the chain's whole state: each file is readable by its owner
 * only (0600), in a folder only its owner can list (0700). The chain and the setup are run for real
 * (the chain saves on stop), into a temporary folder, under a permissive umask so that only the
 * writers' own modes keep the files private.
 */
describe('the local chain and its setup write private files', () => {
  let root: string;
  let dir: string;
  let chain: LocalChain | undefined;
  let umask: number;

  beforeAll(async () => {
    umask = process.umask(0o000);
    root = await mkdtemp(join(tmpdir(), 'doug-private-'));
    dir = join(root, 'local', 'chain');
    // As start.mjs runs them: the chain first (it makes the folder when it saves), then the setup.
    chain = await startLocalChain({ stateFile: join(dir, 'state.json'), saveIntervalMs: 60_000 });
    await setupChain({ rpcUrl: chain.url, dir });
    await chain.stop();
    chain = undefined;
  });

  afterAll(async () => {
    process.umask(umask);
    await chain?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('0600 for state, keys, config and the Worker’s secrets; 0700 for their folder', async () => {
    const names = (await readdir(dir)).sort();
    expect(names).toEqual(['config.json', 'custody-authority.json', 'mint-authority.json', 'mint.json', 'program-authority.json', 'slash-proposer.json', 'state.json', 'treasury.json', 'worker.env']);
    const modes = Object.fromEntries(await Promise.all(names.map(async (n) => [n, ((await stat(join(dir, n))).mode & 0o777).toString(8)])));
    expect(modes).toEqual(Object.fromEntries(names.map((n) => [n, '600'])));
    expect(((await stat(dir)).mode & 0o777).toString(8)).toBe('700');
  });

  it('narrows a state file and folder an older version left wider', async () => {
    await chmod(join(dir, 'state.json'), 0o644);
    await chmod(dir, 0o755);
    chain = await startLocalChain({ stateFile: join(dir, 'state.json'), saveIntervalMs: 60_000 });
    await setupChain({ rpcUrl: chain.url, dir });
    await chain.stop();
    chain = undefined;
    expect(((await stat(join(dir, 'state.json'))).mode & 0o777).toString(8)).toBe('600');
    expect(((await stat(dir)).mode & 0o777).toString(8)).toBe('700');
  });
});
