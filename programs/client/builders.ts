import { publicKey, type Context, type TransactionBuilder } from '@metaplex-foundation/umi';
import type { Instruction } from './tx.ts';

/*
 * The clients Codama generates for our programs (programs/<name>/client, Umi) used as instruction
 * builders only: their instructions become ours (tx.ts), which our signer and RPC client send.
 */

/**
 * The part of Umi's context the generated builders use: program ids by their defaults. Every
 * program-derived address is passed explicitly (program-addresses.ts derives them), so the
 * generated code never needs Umi's own PDA finder, signer or RPC.
 */
export const builderContext = {
  programs: { getPublicKey: (_name: string, fallback: string) => publicKey(fallback) },
  eddsa: {
    findPda: () => {
      throw new Error('program builders: pass every program-derived address explicitly (program-addresses.ts)');
    },
  },
} as unknown as Pick<Context, 'eddsa' | 'programs'>;

/** A generated builder's instructions as ours. */
export function instructionsOf(builder: TransactionBuilder): Instruction[] {
  return builder.getInstructions().map((ix) => ({
    programId: ix.programId.toString(),
    keys: ix.keys.map((k) => ({ pubkey: k.pubkey.toString(), isSigner: k.isSigner, isWritable: k.isWritable })),
    data: ix.data,
  }));
}
