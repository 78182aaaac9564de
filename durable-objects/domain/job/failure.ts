import { PROTOCOL, type JobParams } from '../params.ts';

/**
 * A run that fails is a verdict, not a silence (docs/architecture.md, "A failed run"). An agent whose
 * run fails reports what kind of failure it was and a digest of the runtime's message. Verification
 * treats the report as the replica's answer: replicas that fail the same way (same kind and digest)
 * agree, as equal outputs do. When the agreeing answer is a failure, the job's own input is at fault:
 * the job ends `failed` with that reason, the buyer gets the escrow back less a failed-run fee per
 * failing replica, paid to those providers, and nobody is penalised. A failure the others do not
 * share is that provider's machine: it loses verification like a wrong output (tie-breaker, then
 * ReplicaRejected, which counts in its reputation).
 */

/** What kind of failure a run reported. */
export const FAILURE_KINDS = ['shape', 'dtype', 'runtime', 'out_of_memory', 'timeout'] as const;
export type FailureKind = (typeof FAILURE_KINDS)[number];

/** Longest failure message kept in the job's record (the runtime's words, for people). */
export const FAILURE_MESSAGE_MAX = 500;

/** An agent's report of a failed run. */
export interface RunFailure {
  kind: FailureKind;
  /** SHA-256 hex of the runtime's message: equal messages make equal digests across agents. */
  digest: string;
  /** The runtime's message, at most FAILURE_MESSAGE_MAX characters. */
  message: string;
}

const PREFIX = 'failed:';

/**
 * The digest a failure takes in verification, beside output digests: never equal to an output's
 * (those are 64 hex characters), equal for two failures of one kind and message.
 */
export const failureSignature = (f: Pick<RunFailure, 'kind' | 'digest'>): string => `${PREFIX}${f.kind}:${f.digest}`;

/** Whether a replica's answer (its digest in verification) is a failure. */
export const isFailureSignature = (digest: string): boolean => digest.startsWith(PREFIX);

/** Work units of the failed-run fee for a job (jobs created before the parameter existed take the default). */
export function failedRunUnitsOf(params: JobParams, units: number): number {
  const perRun = (params as Partial<JobParams>).failedRunUnits ?? PROTOCOL.failedRunUnits;
  return Math.min(perRun, units);
}

const WORDS: Record<FailureKind, string> = {
  shape: "the inputs' shapes do not fit the model",
  dtype: "the inputs' element types do not fit the model",
  runtime: 'the model failed while running on these inputs',
  out_of_memory: 'the run ran out of memory',
  timeout: 'the run took longer than allowed',
};

/** The reason in words, as `doug job`, the portal and the history show it. */
export function failureInWords(f: Pick<RunFailure, 'kind' | 'message'>): string {
  return `${WORDS[f.kind]}: ${f.message}`;
}

/**
 * The runtime's message as it is digested and kept: addresses and runs of whitespace (which differ
 * between two processes failing the same way) taken out, cut to FAILURE_MESSAGE_MAX.
 */
export function normalizeFailureMessage(message: string): string {
  return message
    .replace(/0x[0-9a-f]{6,}/gi, '0x…')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, FAILURE_MESSAGE_MAX);
}

const KIND_PATTERNS: [FailureKind, RegExp][] = [
  ['out_of_memory', /out of memory|bad_alloc|failed to allocate|allocation failed/i],
  ['timeout', /timed? ?out|deadline exceeded/i],
  ['dtype', /data type|element type|\bdtype\b|is (?:u?int\d+|float\d*|double|bool|string); the model takes/i],
  ['shape', /invalid dimensions|invalid rank|\bshape\b|\bdims?\b|unknown input|missing input|given twice/i],
];

/** What kind of failure a runtime's message describes (runtime when none fits). */
export function failureKindOf(message: string): FailureKind {
  for (const [kind, pattern] of KIND_PATTERNS) if (pattern.test(message)) return kind;
  return 'runtime';
}
