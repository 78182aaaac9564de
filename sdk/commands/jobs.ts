import { readFileSync } from 'node:fs';
import { UsageError, cell, doug, keyValues, sha256Arg } from '../format.ts';
import { type CommandDef, PAGE_FLAGS, eventsText, jobText, optional, pageArgs, readInputs } from './context.ts';
import { resultText } from './job-wait.ts';

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
        bytes = new Uint8Array(readFileSync(ctx.path(path)));
      } catch (e) {
        throw new UsageError(`cannot read ${path}: ${(e as Error).message}`);
      }
      const client = await ctx.signer();
      const res = await client.uploadModel(bytes);
      ctx.out(res, () => keyValues([['sha256', res.sha256], ['bytes', String(res.bytes)]]));
    },
  },
  inputs: {
    usage: 'doug inputs FILE.json [--upload [--model SHA256]]',
    summary: "turn input tensors written plainly into the API's wire form (base64url), or upload them (signed)",
    flags: { upload: 'boolean', model: 'string' },
    positionals: [1, 1],
    details: [
      'FILE.json holds the tensors by name, their values flat or nested:',
      '  {"x": {"dtype": "float32", "dims": [1, 16], "values": [0.5, -1, ...]}}',
      '  (dtypes float32, float64, int32, int64, uint8, int8, bool; the wire form is read too)',
      'Prints the wire form, [{"name","dtype","dims","data"}], which `doug bid --inputs` also takes.',
      '--upload          store them (PUT /v1/inputs) and print their SHA-256 and size, for',
      '                  `doug bid --input-sha256 H --input-bytes N` (inputs too large to go inline)',
      '--model SHA256    with --upload: refused unless they fit that model',
    ],
    run: async (ctx) => {
      const file = ctx.args.positionals[0]!;
      const model = optional(ctx, 'model', (v) => sha256Arg('--model', v));
      if (model !== undefined && ctx.args.flags.upload !== true) throw new UsageError('--model goes with --upload');
      const tensors = readInputs(ctx, file, 'inputs');
      if (ctx.args.flags.upload !== true) {
        ctx.io.stdout(JSON.stringify(tensors, null, 2) + '\n');
        return;
      }
      const client = await ctx.signer();
      const res = await client.uploadInputs(tensors, { model });
      ctx.out(res, () =>
        keyValues([
          ['input sha256', res.inputSha256],
          ['input bytes', String(res.inputBytes)],
          ['next', ctx.cmd(`bid … --input-sha256 ${res.inputSha256} --input-bytes ${res.inputBytes}`)],
        ]),
      );
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
      ctx.out(res, () => resultText(res));
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
