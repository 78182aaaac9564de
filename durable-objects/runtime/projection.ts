import type { AggregateKind } from '../domain/decider.ts';
import { backoffMs } from '../domain/backoff.ts';
import type { ProjectedEvent, ProjectionMessage } from './env.ts';

/*
 * How an object's events travel to the read models (docs/architecture.md, "Read models"), within
 * Cloudflare Queues' limits: a message of at most 128 KB, a sendBatch of at most 100 messages and
 * 256 KB. Messages are packed below those with room to spare (the JSON envelope, bigint strings).
 */

export const MAX_MESSAGE_BYTES = 96_000;
export const MAX_BATCH_BYTES = 192_000;
export const MAX_BATCH_MESSAGES = 100;
/**
 * How long after a send an object first asks D1 whether the projector applied it. Each check wakes
 * the object and reads D1, whose local database is one object shared with the projector's writes:
 * checks 3 s and 10 s after each send cut the chaos load's rate from 52 to 45 bids/s and stalled
 * the local stack past 1,400 to 1,800 bids (2-core machine); with the first check a minute on, the
 * 3,000 bids ran through. A lost message costs up to a minute of lag in the read models; a new
 * instance (after a restart, when the local queue loses messages) still asks at once.
 */
export const ACK_CHECK_MS = 60_000;
/** A projector that has applied nothing for this long has nothing queued: what it lacks is lost. */
export const ACK_TIMEOUT_MS = 10_000;
/** After a check finds the events still queued behind a backlog: 10 s doubling, capped at ACK_CHECK_MS. */
export function ackRecheckMs(waits: number): number {
  return backoffMs(waits, { minMs: ACK_TIMEOUT_MS, maxMs: ACK_CHECK_MS });
}
const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 60_000;

/** UTF-8 length of a string without encoding it (event text is nearly always ASCII). */
export function size(text: string): number {
  if (ASCII.test(text)) return text.length;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4; // a surrogate pair: one code point of four bytes
      i++;
    } else n += 3; // lone surrogates are encoded as U+FFFD, three bytes
  }
  return n;
}
const ASCII = /^[\x00-\x7f]*$/;

/**
 * Packs a run of consecutive events (and the object's view as of the last one, if given) into
 * messages within the size limit, grouped into sendBatch calls within the batch limits. A message
 * never splits an event; one larger than the limit alone travels alone (and the queue refuses it:
 * events are far smaller).
 */
export function packProjection(o: { source: AggregateKind; object: string; head: number; events: ProjectedEvent[]; view?: string }): ProjectionMessage[][] {
  const messages: ProjectionMessage[] = [];
  let run: ProjectedEvent[] = [];
  let bytes = 0;
  const close = () => {
    if (run.length === 0) return;
    messages.push({ source: o.source, object: o.object, first: run[0]!.seq, last: run[run.length - 1]!.seq, head: o.head, events: run });
    run = [];
    bytes = 0;
  };
  const viewBytes = o.view === undefined ? 0 : size(o.view);
  for (const e of o.events) {
    const b = size(e.data) + size(e.type) + size(e.actor) + 64;
    if (run.length > 0 && bytes + b > MAX_MESSAGE_BYTES) close();
    run.push(e);
    bytes += b;
  }
  if (o.view !== undefined && run.length > 0 && bytes + viewBytes > MAX_MESSAGE_BYTES) {
    // The view rides with the last event: it must fit beside it.
    const lastEvent = run.pop()!;
    close();
    run = [lastEvent];
  }
  close();
  const last = messages[messages.length - 1];
  if (last && o.view !== undefined) last.view = o.view;
  const batches: ProjectionMessage[][] = [];
  let batch: ProjectionMessage[] = [];
  let batchBytes = 0;
  for (const m of messages) {
    const b = size(JSON.stringify(m));
    if (batch.length > 0 && (batch.length === MAX_BATCH_MESSAGES || batchBytes + b > MAX_BATCH_BYTES)) {
      batches.push(batch);
      batch = [];
      batchBytes = 0;
    }
    batch.push(m);
    batchBytes += b;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/** Where the projector has got to in the queue (D1 `projector_progress`); null before its first batch. */
export interface ProjectorProgress {
  /** The latest send time among the messages it has applied. */
  sentUntil: number;
  /** When it last applied a batch. */
  ranAt: number;
}

/**
 * What an object does about events it sent (at `sentAt`) that the projector's cursor still does not
 * cover: send them again ('rewind') once the projector has applied messages sent as late (so these
 * were lost) or has applied nothing for ACK_TIMEOUT_MS (so nothing is queued); otherwise 'wait',
 * for they may be queued behind a backlog. Re-sending while the projector lags only deepened the
 * backlog: measured at 3,000 bids on a 2-core machine, every object re-sent its feed, the local
 * stack stalled past 1,700 bids.
 */
export function unappliedVerdict(o: { sentAt: number; progress: ProjectorProgress | null; now: number }): 'rewind' | 'wait' {
  if (o.progress === null) return o.now - o.sentAt >= ACK_TIMEOUT_MS ? 'rewind' : 'wait';
  if (o.progress.sentUntil >= o.sentAt) return 'rewind';
  return o.now - o.progress.ranAt >= ACK_TIMEOUT_MS ? 'rewind' : 'wait';
}

/** How long to wait after the n-th failure in a row to feed the read models (n ≥ 1). */
export function projectionBackoffMs(failures: number): number {
  return backoffMs(failures, { minMs: MIN_BACKOFF_MS, maxMs: MAX_BACKOFF_MS });
}
