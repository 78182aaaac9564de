import { ORDER_ID, type OrderView } from '$contracts/api.ts';
import type { WireTensor } from '$contracts/tensors.ts';
import { failureInWords, failureSignature, FAILURE_KINDS, isFailureSignature, type FailureKind } from '$domain/job/failure.ts';
import { bidEscrow } from '$domain/market/validate.ts';
import type { Amount } from '$domain/money.ts';
import type { HistoryEntry, JobView } from '$sdk/client.ts';
import { shortKey, toUnits } from './format.ts';

/**
 * What the buyer's pages derive from a job's view (GET /v1/jobs/:id) and history: the steps it went
 * through and when, what it cost, which actions are open, and a preview of its result.
 */

export interface PayoutWire {
  replica: number;
  provider: string;
  holdId: string;
  gross: string;
  fee: string;
  net: string;
}

export interface TimelineEntryWire {
  at: number;
  event: string;
  replica?: number;
}

/** The job view as the wire carries it (durable-objects/domain/job/view.ts, amounts as strings). */
export type JobWire = JobView &
  Partial<{
    holdId: string;
    challengeUntil: number | null;
    challenged: boolean;
    payouts: PayoutWire[];
    fee: string;
    refundReason: string | null;
    /** Why a failed job failed (durable-objects/domain/job/failure.ts): `reason` is the words to show. */
    failure: { kind: string; message: string; reason: string } | null;
    timeline: TimelineEntryWire[];
    challengeCost: string | null;
    cancellable: boolean;
  }>;

/** A bid as GET /v1/bids lists it. */
export type BidWire = OrderView & Partial<{ maxPrice: string; units: number; replicas: number; createdAt: number; expiresAt: number }>;

const amount = (value: unknown): Amount => toUnits(typeof value === 'string' || typeof value === 'bigint' ? value : null) ?? 0n;

/** The market of an order or job id (`bid_<market>_<hex>`), or null. */
export function marketOf(id: string): string | null {
  return ORDER_ID.exec(id)?.[2] ?? null;
}

/** A job id shortened for tables: the end of its hex tail, without `bid_<market>_`. */
export function shortJobId(id: string): string {
  return shortKey(id.replace(/^bid_[a-z0-9-]+_/, ''), 5);
}

/** Statuses after which nothing changes any more. */
export function isFinalStatus(status: string): boolean {
  return status === 'settled' || status === 'failed' || status === 'refunded' || status === 'cancelled' || status === 'expired';
}

/** The badge class of a job or bid status. */
export function statusTone(status: string): 'ok' | 'bad' | 'live' | '' {
  if (status === 'settled') return 'ok';
  if (status === 'refunded' || status === 'failed') return 'bad';
  if (status === 'active' || status === 'challengeable' || status === 'open') return 'live';
  return '';
}

/** When the job was created (its match); null when the view has no timeline. */
export function createdAt(job: JobWire): number | null {
  return job.timeline?.[0]?.at ?? null;
}

// ---------------------------------------------------------------------------------------------
// Timeline

export type StepId = 'placed' | 'matched' | 'running' | 'challenged' | 'verified' | 'settled' | 'failed' | 'refunded' | 'cancelled' | 'expired';

/** Something that happened to one replica on the way: a lapse, a re-match, a tie-breaker, a rejection, a failed run. */
export interface StepDetail {
  at: number;
  replica: number;
  kind: 'lapsed' | 'not-started' | 'rematching' | 'rematched' | 'unfilled' | 'tie-breaker' | 'matched' | 'rejected' | 'run-failed';
  /** The provider it concerns (the one it lapsed on, was re-matched to, was rejected), when known. */
  provider: string | null;
  text: string;
}

export interface TimelineStep {
  id: StepId;
  label: string;
  reached: boolean;
  /** When it was reached, when known. */
  at: number | null;
  /** done · current (the latest reached) · next (in progress) · todo · skipped (the job ended without it). */
  state: 'done' | 'current' | 'next' | 'todo' | 'skipped';
  note: string | null;
  /** What happened to single replicas within the step, oldest first (lapses, re-matches, …). */
  details: StepDetail[];
}

const LABELS: Record<StepId, string> = {
  placed: 'Placed',
  matched: 'Matched',
  running: 'Running',
  challenged: 'Challenged',
  verified: 'Verified',
  settled: 'Settled',
  failed: 'Failed',
  refunded: 'Refunded',
  cancelled: 'Cancelled',
  expired: 'Expired',
};

export const REFUND_REASONS: Record<string, string> = {
  cancelled: 'Cancelled by the buyer: the escrow was refunded in full.',
  'rematch-limit': 'A replica’s lease lapsed too many times: the escrow was refunded.',
  unfilled: 'A replica could not be filled again in time: the escrow was refunded.',
  'no-majority': 'The replicas’ results disagreed without a majority: the escrow was refunded.',
};

export const VERIFIED_BASIS: Record<string, string> = {
  unanimous: 'All replicas returned the same result.',
  majority: 'The majority agreed; the others were rejected and not paid.',
  unchallenged: 'The challenge window closed without a challenge.',
  'challenge-failed': 'The challenge re-run agreed with the original result.',
  'challenge-upheld': 'The challenge re-run disagreed: the original result was rejected.',
  'challenge-lapsed': 'The challenge re-run found no provider; the original result stands.',
};

/** The longest runtime message a replica's failed-run line quotes (the job's failure shows it whole). */
const DETAIL_MESSAGE_MAX = 160;

/** A failed run's kind and message from a history entry's data, when it carries a well-formed one. */
function failureOf(data: Record<string, unknown> | null): { kind: FailureKind; message: string } | null {
  const f = data?.failure as { kind?: unknown; message?: unknown } | undefined;
  if (!f || typeof f.message !== 'string' || !(FAILURE_KINDS as readonly unknown[]).includes(f.kind)) return null;
  return { kind: f.kind as FailureKind, message: f.message };
}

/**
 * What happened to single replicas while the job ran, from the view's timeline (LeaseGranted,
 * LeaseExpired, ReplicaRematchRequested, ReplicaReassigned, TieBreakerRequested, ReplicaRejected,
 * RunFailed, each with its time and replica); the history, when loaded, adds who (the provider of a
 * re-match or a rejection) and why (a failed run's reason). A lapse says whether the agent went
 * silent on a started lease or never started the work; a re-match names its new provider once it has
 * one. Details after a challenge belong to the `challenged` step.
 */
export function replicaDetails(job: JobWire, history: readonly HistoryEntry[] = []): { running: StepDetail[]; challenged: StepDetail[] } {
  // The k-th history entry of a type for a replica goes with the k-th timeline entry of both.
  const data = new Map<string, Record<string, unknown>[]>();
  for (const h of history) {
    const replica = h.data?.replica;
    if (typeof replica !== 'number') continue;
    const key = `${h.type}:${replica}`;
    data.set(key, [...(data.get(key) ?? []), h.data]);
  }
  const seen = new Map<string, number>();
  const dataOf = (event: string, replica: number): Record<string, unknown> | null => {
    const key = `${event}:${replica}`;
    const k = seen.get(key) ?? 0;
    seen.set(key, k + 1);
    return data.get(key)?.[k] ?? null;
  };
  const timeline = job.timeline ?? [];
  const lastReassign = new Map<number, number>();
  timeline.forEach((e, i) => {
    if (e.event === 'ReplicaReassigned' && typeof e.replica === 'number') lastReassign.set(e.replica, i);
  });

  const running: StepDetail[] = [];
  const challenged: StepDetail[] = [];
  let into = running;
  const leased = new Set<number>();
  /** A replica waiting for a provider: the re-match line to complete, or a tie-breaker or challenge re-run. */
  const waiting = new Map<number, { list: StepDetail[]; index: number } | 'tie-breaker' | 'challenge'>();
  const push = (d: StepDetail): number => into.push(d) - 1;

  timeline.forEach((e, i) => {
    if (e.event === 'ChallengeRaised') {
      into = challenged;
      if (typeof e.replica === 'number') waiting.set(e.replica, 'challenge');
      return;
    }
    const r = e.replica;
    if (typeof r !== 'number') return;
    const name = `Replica #${r}`;
    switch (e.event) {
      case 'LeaseGranted':
        leased.add(r);
        return;
      case 'LeaseExpired': {
        const provider = (dataOf(e.event, r)?.provider as string | undefined) || null;
        push(
          leased.has(r)
            ? { at: e.at, replica: r, kind: 'lapsed', provider, text: `${name}'s lease lapsed: its agent went silent.` }
            : { at: e.at, replica: r, kind: 'not-started', provider, text: `${name} was never started: its agent did not pick the work up in time.` },
        );
        leased.delete(r);
        return;
      }
      case 'ReplicaRematchRequested': {
        const index = push({ at: e.at, replica: r, kind: 'rematching', provider: null, text: `${name} is offered to other providers.` });
        waiting.set(r, { list: into, index });
        return;
      }
      case 'TieBreakerRequested':
        push({ at: e.at, replica: r, kind: 'tie-breaker', provider: null, text: `The results disagreed: ${name} was added as a tie-breaker.` });
        waiting.set(r, 'tie-breaker');
        return;
      case 'ReplicaReassigned': {
        const provider = (dataOf(e.event, r)?.provider as string | undefined) || (lastReassign.get(r) === i ? (job.replicas.find((x) => x.replica === r)?.provider ?? null) : null);
        const to = provider ? shortKey(provider) : 'another provider';
        const wait = waiting.get(r);
        waiting.delete(r);
        leased.delete(r);
        if (wait && typeof wait === 'object') {
          wait.list[wait.index] = { at: e.at, replica: r, kind: 'rematched', provider, text: `${name} was re-matched to ${to}.` };
        } else {
          const role = wait === 'tie-breaker' ? ' (tie-breaker)' : wait === 'challenge' ? ' (challenge re-run)' : '';
          push({ at: e.at, replica: r, kind: 'matched', provider, text: `${name}${role} was matched to ${to}.` });
        }
        return;
      }
      case 'ReplicaRejected': {
        const provider = (dataOf(e.event, r)?.provider as string | undefined) || (job.replicas.find((x) => x.replica === r)?.provider ?? null);
        push({ at: e.at, replica: r, kind: 'rejected', provider, text: `${name}'s result was rejected: its provider${provider ? ` ${shortKey(provider)}` : ''} is not paid.` });
        return;
      }
      case 'RunFailed': {
        const failure = failureOf(dataOf(e.event, r));
        leased.delete(r);
        let words = failure ? failureInWords(failure) : '';
        if (words.length > DETAIL_MESSAGE_MAX) words = `${words.slice(0, DETAIL_MESSAGE_MAX - 1)}…`;
        push({ at: e.at, replica: r, kind: 'run-failed', provider: null, text: words ? `${name}'s run failed: ${words}` : `${name}'s run failed.` });
        return;
      }
    }
  });
  // A re-match that never found a provider before the job ended.
  if (job.status !== 'active' && job.status !== 'challengeable') {
    for (const [r, wait] of waiting) {
      if (typeof wait === 'object') {
        const d = wait.list[wait.index]!;
        wait.list[wait.index] = { ...d, kind: 'unfilled', text: `No other provider took replica #${r}.` };
      }
    }
  }
  const byTime = (a: StepDetail, b: StepDetail): number => a.at - b.at;
  return { running: running.sort(byTime), challenged: challenged.sort(byTime) };
}

/**
 * The steps of a job, placed → matched → running → verified → settled (a challenge inserted before
 * verified; failed, refunded, cancelled or expired as the last step instead of settled), each with the
 * time it was reached. Times come from the view's timeline; the history adds the reasons. Running (and
 * a challenge) list what happened to single replicas on the way (replicaDetails). A bid that is not a
 * job yet gives its own status (open, cancelled, expired) and placement time.
 */
export function timelineSteps(o: { job: JobWire | null; bid?: { status: string; createdAt?: number | null } | null; history?: readonly HistoryEntry[] }): TimelineStep[] {
  const { job, bid } = o;
  const events = job?.timeline ?? [];
  const first = (type: string): number | null => events.find((e) => e.event === type)?.at ?? null;
  const has = (type: string): boolean => events.some((e) => e.event === type);
  const lastData = (type: string): Record<string, unknown> | null => [...(o.history ?? [])].reverse().find((h) => h.type === type)?.data ?? null;
  const details = job ? replicaDetails(job, o.history) : { running: [], challenged: [] };

  type Draft = Omit<TimelineStep, 'state' | 'label' | 'details'> & { details?: StepDetail[] };
  const steps: Draft[] = [];
  steps.push({ id: 'placed', reached: job !== null || bid != null, at: bid?.createdAt ?? first('JobCreated'), note: null });
  steps.push({ id: 'matched', reached: job !== null, at: first('JobCreated'), note: null });
  const reruns = job?.replicas.filter((r) => r.role !== 'primary').length ?? 0;
  const tieBreakerShown = details.running.some((d) => d.kind === 'tie-breaker');
  steps.push({
    id: 'running',
    reached: has('LeaseGranted'),
    at: first('LeaseGranted'),
    note: reruns > 0 && !has('ChallengeRaised') && !tieBreakerShown ? 'A tie-breaker replica was added.' : null,
    details: details.running,
  });
  if (job && (job.challenged === true || has('ChallengeRaised'))) {
    steps.push({ id: 'challenged', reached: true, at: first('ChallengeRaised'), note: 'You challenged the result: it is re-run on another provider.', details: details.challenged });
  }
  const basis = lastData('ResultVerified')?.basis;
  const verifiedNote =
    typeof basis === 'string' ? (VERIFIED_BASIS[basis] ?? null) : job?.status === 'challengeable' ? 'Result in: open to your challenge until the window closes.' : null;
  steps.push({ id: 'verified', reached: has('ResultVerified'), at: first('ResultVerified'), note: verifiedNote });

  if (job?.status === 'failed') {
    const failure = failureOf(lastData('JobFailed'));
    steps.push({ id: 'failed', reached: true, at: first('JobFailed'), note: job.failure?.reason ?? (failure ? failureInWords(failure) : null) });
  } else if (job?.status === 'refunded') {
    const reason = job.refundReason ?? (lastData('JobRefunded')?.reason as string | undefined) ?? null;
    steps.push({ id: reason === 'cancelled' ? 'cancelled' : 'refunded', reached: true, at: first('JobRefunded'), note: reason ? (REFUND_REASONS[reason] ?? reason) : null });
  } else if (!job && bid && (bid.status === 'cancelled' || bid.status === 'expired')) {
    steps.push({
      id: bid.status,
      reached: true,
      at: null,
      note: bid.status === 'cancelled' ? 'The bid was cancelled before it matched; its escrow was released.' : 'The bid expired before it matched; its escrow was released.',
    });
  } else {
    steps.push({ id: 'settled', reached: has('JobSettled'), at: first('JobSettled'), note: null });
  }

  const ended = steps[steps.length - 1]!.reached;
  let latest = -1;
  steps.forEach((s, i) => {
    if (s.reached) latest = i;
  });
  return steps.map((s, i) => ({
    ...s,
    label: LABELS[s.id],
    details: s.details ?? [],
    state: s.reached ? (i === latest ? 'current' : 'done') : ended ? 'skipped' : i === latest + 1 ? 'next' : 'todo',
  }));
}

// ---------------------------------------------------------------------------------------------
// Money

export interface JobCost {
  /** Held at placement: max price × units × replicas. */
  escrow: Amount;
  /** What the matched replicas will cost at their fill prices (while the job runs). */
  expected: Amount;
  /** Paid for verified replicas (of a failed job: the failed-run fees): to providers (net) plus the protocol fee. */
  paid: Amount;
  toProviders: Amount;
  fee: Amount;
  /** Of `paid`, what came from the job's escrow and from a challenge hold. */
  fromEscrow: Amount;
  fromChallenge: Amount;
  /** The part of the escrow that went back to the buyer; null while the job runs. */
  refunded: Amount | null;
  final: boolean;
}

export function jobCost(job: JobWire): JobCost {
  const escrow = bidEscrow({ maxPrice: amount(job.maxPrice), units: job.units, replicas: job.replicaCount });
  const expected = job.replicas.filter((r) => r.role === 'primary').reduce((sum, r) => sum + amount(r.price) * BigInt(job.units), 0n);
  // A failed job pays the failed-run fee to each failing provider (its payouts); the rest goes back.
  const charged = job.status === 'settled' || job.status === 'failed';
  const payouts = charged ? (job.payouts ?? []) : [];
  const holdId = job.holdId ?? job.jobId;
  let paid = 0n;
  let toProviders = 0n;
  let fee = 0n;
  let fromEscrow = 0n;
  for (const p of payouts) {
    const gross = amount(p.gross);
    paid += gross;
    toProviders += amount(p.net);
    fee += amount(p.fee);
    if (p.holdId === holdId) fromEscrow += gross;
  }
  const final = charged || job.status === 'refunded';
  return {
    escrow,
    expected,
    paid,
    toProviders,
    fee,
    fromEscrow,
    fromChallenge: paid - fromEscrow,
    refunded: charged ? escrow - fromEscrow : job.status === 'refunded' ? escrow : null,
    final,
  };
}

export type ListCostLabel = 'paid' | 'failed-run fees' | 'refunded' | 'escrow';

/** The cost column of the jobs list: what was paid once settled (the failed-run fees once failed), the escrow otherwise. */
export function listCost(job: JobWire): { label: ListCostLabel; amount: Amount } {
  const cost = jobCost(job);
  if (job.status === 'settled') return { label: 'paid', amount: cost.paid };
  if (job.status === 'failed') return { label: 'failed-run fees', amount: cost.paid };
  if (job.status === 'refunded') return { label: 'refunded', amount: cost.escrow };
  return { label: 'escrow', amount: cost.escrow };
}

// ---------------------------------------------------------------------------------------------
// Actions

/** Whether the buyer may cancel now, as the job's view says (the job decider's rule: before any result). */
export function canCancel(job: JobWire): boolean {
  return job.cancellable === true;
}

/** A single-replica result may be challenged until its window closes. */
export function challengeOpen(job: JobWire, now: number): boolean {
  return job.status === 'challengeable' && typeof job.challengeUntil === 'number' && now < job.challengeUntil;
}

/** What a challenge holds now, as the job's view prices it (the job decider's rule: the re-run at the original price). */
export function challengeCost(job: JobWire): Amount {
  return amount(job.challengeCost);
}

/** The result can be fetched while the challenge window is open and once settled (then only once). */
export function resultServable(job: JobWire): boolean {
  return job.status === 'settled' || job.status === 'challengeable';
}

/** "9:05", "1:02:03"; 0:00 once passed. */
export function countdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

const REPLICA_STATUS: Record<string, string> = {
  assigned: 'assigned',
  leased: 'running',
  submitted: 'result in',
  lapsed: 'lapsed',
  'awaiting-match': 'finding a provider',
  paid: 'paid',
  rejected: 'rejected',
};

/**
 * A replica's status as the pages show it: work a closed job never ran is 'not run'; a failed run says
 * so, paid the failed-run fee when the job failed (not the provider's fault) or rejected when the
 * others disagreed (its machine's).
 */
export function replicaStatus(r: { status: string; digest: string | null }, jobStatus: string): { text: string; tone: 'ok' | 'bad' | 'live' | '' } {
  if (isFinalStatus(jobStatus) && (r.status === 'assigned' || r.status === 'leased' || r.status === 'awaiting-match')) return { text: 'not run', tone: '' };
  if (failedRunKind(r.digest) !== null) {
    if (r.status === 'paid') return { text: 'run failed · fee paid', tone: '' };
    if (r.status === 'rejected') return { text: 'run failed · rejected', tone: 'bad' };
    return { text: 'run failed', tone: '' };
  }
  const tone = r.status === 'paid' ? 'ok' : r.status === 'rejected' || r.status === 'lapsed' ? 'bad' : r.status === 'leased' || r.status === 'submitted' ? 'live' : '';
  return { text: REPLICA_STATUS[r.status] ?? r.status, tone };
}

/** The kind of failure a replica's answer reports when its digest is a failed run's signature (job/failure.ts), else null. */
export function failedRunKind(digest: string | null | undefined): FailureKind | null {
  if (!digest || !isFailureSignature(digest)) return null;
  return FAILURE_KINDS.find((kind) => digest.startsWith(failureSignature({ kind, digest: '' }))) ?? null;
}

export const shortDigest = (digest: string | null | undefined, keep = 12): string => (digest ? (digest.length > keep ? `${digest.slice(0, keep)}…` : digest) : '—');

// ---------------------------------------------------------------------------------------------
// The jobs list

export interface JobRow {
  id: string;
  kind: 'job' | 'bid';
  status: string;
  market: string;
  replicas: number;
  units: number;
  cost: { label: ListCostLabel; amount: Amount };
  createdAt: number | null;
}

/** Jobs and the open bids that are not jobs yet, newest first. */
export function jobRows(jobs: readonly JobWire[], openBids: readonly BidWire[]): JobRow[] {
  const rows: JobRow[] = jobs.map((j) => ({
    id: j.jobId,
    kind: 'job',
    status: j.status,
    market: marketOf(j.jobId) ?? '—',
    replicas: j.replicaCount,
    units: j.units,
    cost: listCost(j),
    createdAt: createdAt(j),
  }));
  const known = new Set(rows.map((r) => r.id));
  for (const b of openBids) {
    if (known.has(b.id) || b.status !== 'open') continue;
    const units = Number(b.units ?? 0);
    const replicas = Number(b.replicas ?? 0);
    rows.push({
      id: b.id,
      kind: 'bid',
      status: 'open',
      market: b.market,
      replicas,
      units,
      cost: { label: 'escrow', amount: bidEscrow({ maxPrice: amount(b.maxPrice), units, replicas }) },
      createdAt: typeof b.createdAt === 'number' ? b.createdAt : null,
    });
  }
  return rows.sort((a, b) => (b.createdAt ?? Infinity) - (a.createdAt ?? Infinity) || (a.id < b.id ? -1 : 1));
}

// ---------------------------------------------------------------------------------------------
// Results

export interface JobResult {
  replica: number;
  outputDigest: string;
  outputs: WireTensor[];
}

export interface TensorPreview {
  name: string;
  dtype: string;
  dims: number[];
  count: number;
  /** The first values as text; empty when the data cannot be read. */
  values: string[];
  /** How many values are not shown. */
  more: number;
}

function decodeBase64Url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  try {
    const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

const float = (v: number): string => (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6))));

/** A tensor's name, shape and first `max` values, decoded from base64url little-endian bytes. */
export function previewTensor(t: WireTensor, max = 8): TensorPreview {
  const count = t.dims.reduce((a, b) => a * b, 1);
  const base = { name: t.name, dtype: t.dtype, dims: t.dims, count };
  const bytes = decodeBase64Url(t.data);
  const size = { float32: 4, float64: 8, int32: 4, int64: 8, uint8: 1, int8: 1, bool: 1 }[t.dtype];
  if (!bytes || size === undefined || bytes.byteLength < count * size) return { ...base, values: [], more: count };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shown = Math.min(count, max);
  const values: string[] = [];
  for (let i = 0; i < shown; i++) {
    switch (t.dtype) {
      case 'float32': values.push(float(view.getFloat32(i * 4, true))); break;
      case 'float64': values.push(float(view.getFloat64(i * 8, true))); break;
      case 'int32': values.push(String(view.getInt32(i * 4, true))); break;
      case 'int64': values.push(view.getBigInt64(i * 8, true).toString()); break;
      case 'uint8': values.push(String(view.getUint8(i))); break;
      case 'int8': values.push(String(view.getInt8(i))); break;
      case 'bool': values.push(view.getUint8(i) ? 'true' : 'false'); break;
    }
  }
  return { ...base, values, more: count - shown };
}

/** The file a result is saved as: the API's answer with the job id, pretty-printed. */
export function resultFile(jobId: string, result: JobResult): { name: string; text: string } {
  return { name: `${jobId}-result.json`, text: JSON.stringify({ jobId, replica: result.replica, outputDigest: result.outputDigest, outputs: result.outputs }, null, 2) + '\n' };
}
