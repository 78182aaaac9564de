import * as v from 'valibot';
import type { AgentMessage } from './agent.ts';
import { MAX_PREFETCH, MAX_SLOTS } from '../domain/dispatch/index.ts';
import { DELEGATION_SCOPES } from './auth.ts';
import { FAILURE_KINDS } from '../domain/job/failure.ts';
import { API_LIMITS, HEX64, TensorSchema, parse } from './schemas.ts';
import { CHAT_LIMITS, ChatManifestSchema, DIRECT_URL, StageAnnouncementSchema } from './chat.ts';

/**
 * Schemas of the messages an agent sends (docs/architecture.md, "Protocols"), parsed with the same
 * building blocks as the API's bodies. Objects are loose: fields a later protocol version adds pass
 * through to the gateway, which the compiler then checks against `AgentMessage`.
 */
const ref = (max = 128) => v.pipe(v.string('must be a string'), v.minLength(1, 'must not be empty'), v.maxLength(max, `must be at most ${max} characters`));
const count = (min: number, max: number) =>
  v.pipe(v.number('must be an integer'), v.safeInteger('must be an integer'), v.minValue(min, `must be between ${min} and ${max}`), v.maxValue(max, `must be between ${min} and ${max}`));
const label = v.pipe(v.string('must be a string'), v.maxLength(256, 'must be at most 256 characters'));
const nonNegative = v.pipe(v.number('must be a number'), v.finite('must be a number'), v.minValue(0, 'must not be negative'));

/** Most tensors a result may hold. */
export const MAX_RESULT_TENSORS = API_LIMITS.tensors;

const HelloSchema = v.looseObject({
  type: v.literal('hello'),
  v: count(0, 1_000_000),
  agentKey: ref(64),
  signature: ref(128),
  delegation: v.optional(
    v.object({
      wallet: ref(64),
      delegate: ref(64),
      scopes: v.pipe(v.array(v.picklist(DELEGATION_SCOPES, `must be one of ${DELEGATION_SCOPES.join(', ')}`), 'must be an array'), v.maxLength(8, 'must have at most 8 items')),
      expiresAt: count(0, Number.MAX_SAFE_INTEGER),
      signature: ref(128),
    }, 'must be an object'),
  ),
  askId: ref(),
  // The agent's self-report, shown to buyers and never trusted for matching: missing parts default to nothing.
  hardware: v.looseObject({
    cpuModel: v.optional(label, ''),
    cores: v.optional(count(0, 1_000_000), 0),
    memoryGb: v.optional(nonNegative, 0),
    gpus: v.optional(v.pipe(v.array(v.object({ name: label, memoryGb: nonNegative }, 'must be an object'), 'must be an array'), v.maxLength(64, 'must have at most 64 items')), []),
  }, 'must be an object'),
  runtime: v.looseObject({
    onnxruntime: ref(64),
    executionProvider: v.picklist(['cpu', 'cuda'], 'must be cpu or cuda'),
    platform: ref(64),
    arch: ref(64),
    cpuFeatures: v.pipe(v.array(ref(64), 'must be an array'), v.maxLength(256, 'must have at most 256 items')),
  }, 'must be an object'),
  stages: v.optional(v.pipe(v.array(StageAnnouncementSchema, 'must be an array'), v.maxLength(CHAT_LIMITS.heldStages, `must have at most ${CHAT_LIMITS.heldStages} items`))),
  direct: v.optional(v.pipe(v.string('must be a string'), v.regex(DIRECT_URL, 'must be ws://host:port'), v.maxLength(200, 'must be at most 200 characters'))),
}, 'must be an object');

const ReadySchema = v.looseObject({ type: v.literal('ready'), slots: count(0, MAX_SLOTS), prefetch: v.optional(count(0, MAX_PREFETCH)) }, 'must be an object');

const StartSchema = v.looseObject({ type: v.literal('start'), jobId: ref(), leaseId: ref() }, 'must be an object');

const HeartbeatSchema = v.looseObject({ type: v.literal('heartbeat'), leases: v.pipe(v.array(ref(), 'must be an array'), v.maxLength(1024, 'must have at most 1024 items')) }, 'must be an object');

const ResultSchema = v.looseObject({
  type: v.literal('result'),
  jobId: ref(),
  leaseId: ref(),
  outputs: v.pipe(v.array(TensorSchema, 'must be an array'), v.minLength(1, `must hold 1-${MAX_RESULT_TENSORS} tensors`), v.maxLength(MAX_RESULT_TENSORS, `must hold 1-${MAX_RESULT_TENSORS} tensors`)),
  outputDigest: v.pipe(v.string('must be a string'), v.regex(HEX64, 'must be 64 lowercase hex characters')),
  timings: v.looseObject({ loadMs: nonNegative, runMs: nonNegative }, 'must be an object'),
}, 'must be an object');

const AgentErrorSchema = v.looseObject({
  type: v.literal('error'),
  jobId: ref(),
  leaseId: ref(),
  code: v.picklist(['AGENT__MODEL_HASH_MISMATCH', 'AGENT__MODEL_UNAVAILABLE', 'AGENT__RUN_FAILED', 'AGENT__DRAINING'], 'is not an agent error code'),
  message: v.pipe(v.string('must be a string'), v.maxLength(4096, 'must be at most 4096 characters')),
  failure: v.optional(v.picklist(FAILURE_KINDS, `must be one of ${FAILURE_KINDS.join(', ')}`)),
}, 'must be an object');

const ManifestSchema = v.looseObject({
  type: v.literal('manifest'),
  manifest: ChatManifestSchema,
  tokenizer: v.pipe(v.string('must be a string'), v.minLength(2, 'must not be empty'), v.maxLength(CHAT_LIMITS.tokenizerBytes, 'is too long')),
}, 'must be an object');

const StageOutputSchema = v.looseObject({
  type: v.literal('stage-output'),
  id: ref(),
  hidden: v.optional(v.pipe(v.string('must be a string'), v.regex(/^[A-Za-z0-9_-]*$/, 'must be base64url'), v.maxLength(64 * 1024 * 1024, 'is too long'))),
  token: v.optional(count(0, CHAT_LIMITS.vocab)),
  ms: nonNegative,
}, 'must be an object');

const StageErrorSchema = v.looseObject({
  type: v.literal('stage-error'),
  id: ref(),
  code: v.picklist(['STAGE__STEP_GAP', 'STAGE__BAD_INPUT', 'STAGE__NOT_HELD', 'STAGE__FAILED'], 'is not a stage error code'),
  message: v.pipe(v.string('must be a string'), v.maxLength(4096, 'must be at most 4096 characters')),
  stage: v.optional(count(0, CHAT_LIMITS.stages - 1)),
}, 'must be an object');

/** Every message an agent may send, told apart by `type`. */
export const AgentMessageSchema = v.variant('type', [HelloSchema, ReadySchema, StartSchema, HeartbeatSchema, ResultSchema, AgentErrorSchema, ManifestSchema, StageOutputSchema, StageErrorSchema], 'must be an object with a known type');

/** A refusal of an agent frame: the code and words of the error frame, and the message type it is about. */
export interface AgentMessageRefusal {
  code: 'AGENT__MALFORMED_MESSAGE' | 'AGENT__RESULT_INVALID';
  message: string;
  ref?: string;
}

/**
 * Parses one frame from an agent: the typed message, or the refusal to send back. Never throws,
 * whatever the frame holds (a `leaseId` of `{"toString": 1}` is a string-typed field's problem).
 */
export function parseAgentMessage(text: string): { ok: true; message: AgentMessage } | ({ ok: false } & AgentMessageRefusal) {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, code: 'AGENT__MALFORMED_MESSAGE', message: 'messages must be JSON' };
  }
  const parsed = parse(AgentMessageSchema, json);
  if (parsed.ok) return { ok: true, message: parsed.value };
  const type = json !== null && typeof json === 'object' && typeof (json as { type?: unknown }).type === 'string' ? ((json as { type: string }).type.slice(0, 40)) : undefined;
  const problem = parsed.field ? `${parsed.field} ${parsed.problem}` : parsed.problem;
  const code = type === 'result' && parsed.field.startsWith('outputs') ? 'AGENT__RESULT_INVALID' : 'AGENT__MALFORMED_MESSAGE';
  return { ok: false, code, message: problem, ...(type ? { ref: type } : {}) };
}
