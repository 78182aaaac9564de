import { readFileSync } from 'node:fs';
import { UsageError, cell, doug, keyValues } from '../format.ts';
import { type CommandDef, PAGE_FLAGS, eventsText, jobText, pageArgs } from './context.ts';

/** A job: its state, its model upload, its result, a challenge. */
export const jobsCommands: Record<string, CommandDef> = {
  job: {
    usage: 'doug job JOB_ID [--history] [--cursor C] [--limit N]',
    summary: 'show a job (its id is its bid id), and with --history its events',
    flags: { history: 'boolean', ...PAGE_FLAGS },
    positionals: [1, 1],
    run: async (ctx) => {
      const id = ctx.args.positionals[0]!;
      const client = ctx.reader();
      const job = await client.job(id);
      if (ctx.args.flags.history !== true) {
        ctx.out(job, () => jobText(job));
        return;
      }
      const history = await client.jobHistory(id, pageArgs(ctx));
      ctx.out({ job, history }, () => jobText(job) + '\n' + eventsText(history, 'no events'));
    },
  },
  upload: {
    usage: 'doug upload MODEL.onnx',
    summary: 'upload an ONNX model (signed); prints its SHA-256, the name bids use',
    flags: {},
    positionals: [1, 1],
    run: async (ctx) => {
      const path = ctx.args.positionals[0]!;
      let bytes: Uint8Array;
      try {
        bytes = new Uint8Array(readFileSync(path));
      } catch (e) {
        throw new UsageError(`cannot read ${path}: ${(e as Error).message}`);
      }
      const client = await ctx.signer();
      const res = await client.uploadModel(bytes);
      ctx.out(res, () => keyValues([['sha256', res.sha256], ['bytes', String(res.bytes)]]));
    },
  },
  result: {
    usage: 'doug result JOB_ID',
    summary: "fetch a job's verified outputs (signed, buyer only; served once after settlement)",
    flags: {},
    positionals: [1, 1],
    run: async (ctx) => {
      const client = await ctx.signer();
      const res = await client.jobResult(ctx.args.positionals[0]!);
      ctx.out(res, () =>
        keyValues([
          ['replica', String(res.replica)],
          ['digest', res.outputDigest],
          ...res.outputs.map((t): [string, string] => [`output ${t.name}`, `${t.dtype}[${t.dims.join('×')}]`]),
        ]),
      );
    },
  },
  challenge: {
    usage: 'doug challenge JOB_ID',
    summary: 'dispute a single-replica result inside its window; the re-run is held from your balance (signed)',
    flags: {},
    positionals: [1, 1],
    run: async (ctx) => {
      const client = await ctx.signer();
      const res = await client.challengeJob(ctx.args.positionals[0]!);
      ctx.out(res, () => keyValues([['job', String(res.job.jobId)], ['status', cell(res.job.status)], ['held', `${doug(BigInt(res.held))} DOUG`]]));
    },
  },
};
