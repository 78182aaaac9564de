import { generateKeypair } from '../../durable-objects/contracts/auth.ts';
import { keyValues } from '../format.ts';
import { saveKeypair } from '../keyfile.ts';
import { type CommandDef } from './context.ts';

/** Creating the wallet key. */
export const keysCommands: Record<string, CommandDef> = {
  keygen: {
    usage: 'doug keygen [--force]',
    summary: 'make a new wallet key file (Solana CLI format, mode 0600)',
    flags: { force: 'boolean' },
    positionals: [0, 0],
    details: ['--force   replace an existing key file (its key is lost)'],
    run: async (ctx) => {
      const keypair = await generateKeypair();
      await saveKeypair(ctx.keyPath, keypair, { force: ctx.args.flags.force === true });
      ctx.out({ publicKey: keypair.publicKey, path: ctx.keyPath }, () =>
        keyValues([
          ['public key', keypair.publicKey],
          ['key file', ctx.keyPath],
        ]),
      );
    },
  },
};
