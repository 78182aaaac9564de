import { DougApiError, type DougClient, type JobView } from '../client.ts';
import { jobProgress, type JobProgress } from '../job-progress.ts';
import { cell, keyValues } from '../format.ts';
import { wireValues, type WireTensor } from '../../durable-objects/contracts/tensors.ts';
import type { Ctx } from './context.ts';

/** How long `--wait` follows a job unless told (`--timeout`). */
export const DEFAULT_WAIT = '3m';
/** How long past its expiry an unmatched bid is still polled (the market expires it on its alarm). */
const EXPIRY_GRACE_MS = 5_000;

export interface WaitOutcome {
  job: JobView | null;
  progress: JobProgress;
  /** Why the wait ended before the job did: the time allowed ran out, or the bid expired unmatched. */
  stopped: 'timeout' | 'expired' | null;
}

/**
 * Follows a job (GET /v1/jobs/:id) until it ends or its result can be fetched, for at most
 * `timeoutMs`, showing each change of phase on stderr: one line updated in place on a terminal,
 * else one line per change. A job that does not exist yet is a bid waiting for its match; one
 * that is still unmatched past `bidExpiresAt` has expired. Network failures and 5xx answers are
 * retried until the time runs out; any other refusal ends the wait with its error.
 */
export async function waitForJob(ctx: Ctx, client: DougClient, jobId: string, o: { timeoutMs: number; bidExpiresAt: number }): Promise<WaitOutcome> {
  const tty = ctx.io.stderrIsTTY === true;
  const pollMs = ctx.io.pollMs ?? 500;
  const deadline = Date.now() + o.timeoutMs;
  let shown = '';
  let job: JobView | null = null;
  let progress = jobProgress(null);
  const show = (text: string) => {
    if (text === shown) return;
    shown = text;
    ctx.io.stderr(tty ? `\r\x1b[2K${text}` : `${text}\n`);
  };
  const end = (stopped: WaitOutcome['stopped']): WaitOutcome => {
    if (tty && shown !== '') ctx.io.stderr('\n');
    return { job, progress, stopped };
  };
  for (;;) {
    try {
      job = await client.job(jobId);
    } catch (err) {
      const transient = err instanceof DougApiError && (err.status === 0 || err.status >= 500);
      const unmatched = err instanceof DougApiError && err.code === 'API__UNKNOWN_JOB';
      if (!transient && !unmatched) {
        end(null);
        throw err;
      }
      if (unmatched) job = null;
    }
    progress = jobProgress(job);
    show(`${jobId}: ${progress.text}`);
    if (progress.done) return end(null);
    if (job === null && Date.now() > o.bidExpiresAt + EXPIRY_GRACE_MS) return end('expired');
    if (Date.now() + pollMs > deadline) return end('timeout');
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** Most values printed per output tensor; --json prints them all. */
const VALUES_SHOWN = 16;

/** Values of a tensor for reading: floats to 6 significant digits, at most VALUES_SHOWN of them. */
export function valuesText(t: WireTensor): string {
  const values = wireValues(t);
  const float = t.dtype === 'float32' || t.dtype === 'float64';
  const shown = values.slice(0, VALUES_SHOWN).map((v) => (float ? String(Number(v.toPrecision(6))) : String(v)));
  const more = values.length - shown.length;
  return `[${shown.join(', ')}${more > 0 ? `, … ${more} more (--json prints all)` : ''}]`;
}

/** A job's result for reading: the replica, the outputs' digest, and each output's dtype, shape and values. */
export function resultText(res: { replica: number; outputDigest: string; outputs: WireTensor[] }): string {
  return keyValues([
    ['replica', cell(res.replica)],
    ['digest', res.outputDigest],
    ...res.outputs.map((t): [string, string] => [`output ${t.name}`, `${t.dtype}[${t.dims.join('×')}] ${valuesText(t)}`]),
  ]);
}
