import type { AssignMessage, CancelMessage, ChallengeMessage, ServerErrorMessage, ServerMessage, StageStepMessage, WelcomeMessage } from '../../../durable-objects/contracts/agent.ts';
import { tensorProblem } from '../../../durable-objects/contracts/tensors.ts';
import { DIRECT_URL } from '../../../durable-objects/contracts/chat.ts';
import type { WireTensor } from '../../../durable-objects/contracts/tensors.ts';

/**
 * Checks what the server sends before the agent acts on it. A message that cannot be read is a
 * problem to log, never a crash. An assign whose ids are readable but whose payload is not comes
 * back as `bad-assign`, so the agent can refuse that lease instead of letting it lapse.
 */
export type ParsedServerMessage =
  | { kind: 'message'; message: ServerMessage }
  | { kind: 'bad-assign'; jobId: string; leaseId: string; problem: string }
  | { kind: 'invalid'; problem: string };

/** Longest id (job, lease) the agent accepts. */
const MAX_ID = 128;

/** Parses one text frame from the server. */
export function parseServerMessage(text: string): ParsedServerMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return invalid('not JSON');
  }
  if (!isRecord(value)) return invalid('not a JSON object');
  switch (value.type) {
    case 'challenge':
      return parseChallenge(value);
    case 'welcome':
      return parseWelcome(value);
    case 'assign':
      return parseAssign(value);
    case 'cancel':
      return parseCancel(value);
    case 'error':
      return parseServerError(value);
    case 'need-manifest':
      return isHex(value.manifest) ? { kind: 'message', message: { type: 'need-manifest', manifest: value.manifest } } : invalid('need-manifest.manifest must be 64 lower-case hex digits');
    case 'stage-step':
      return parseStageStep(value);
    case 'stage-open':
      if (!isHex(value.manifest) || !isReplica(value.index) || !isId(value.session) || !isId(value.auth)) return invalid('stage-open must have manifest, index, session and auth');
      return { kind: 'message', message: { type: 'stage-open', manifest: value.manifest, index: value.index, session: value.session, auth: value.auth } };
    case 'stage-close':
      if (!isHex(value.manifest) || !isReplica(value.index) || !isId(value.session)) return invalid('stage-close must have manifest, index and session');
      return { kind: 'message', message: { type: 'stage-close', manifest: value.manifest, index: value.index, session: value.session } };
    default:
      return invalid(`unknown type ${JSON.stringify(String(value.type)).slice(0, 40)}`);
  }
}

function parseChallenge(v: Record<string, unknown>): ParsedServerMessage {
  if (!isId(v.nonce)) return invalid('challenge.nonce must be a string of 1-128 characters');
  const message: ChallengeMessage = { type: 'challenge', nonce: v.nonce };
  return { kind: 'message', message };
}

function parseWelcome(v: Record<string, unknown>): ParsedServerMessage {
  if (!Number.isSafeInteger(v.heartbeatMs) || (v.heartbeatMs as number) <= 0) return invalid('welcome.heartbeatMs must be a positive integer');
  if (!Array.isArray(v.leases)) return invalid('welcome.leases must be an array');
  const leases: WelcomeMessage['leases'] = [];
  for (const [i, l] of v.leases.entries()) {
    if (!isRecord(l) || !isId(l.jobId) || !isId(l.leaseId) || !isReplica(l.replica) || !isTime(l.expiresAt)) {
      return invalid(`welcome.leases[${i}] must have jobId, replica, leaseId and expiresAt`);
    }
    leases.push({ jobId: l.jobId, replica: l.replica, leaseId: l.leaseId, expiresAt: l.expiresAt });
  }
  const message: WelcomeMessage = { type: 'welcome', leases, heartbeatMs: v.heartbeatMs as number };
  return { kind: 'message', message };
}

function parseAssign(v: Record<string, unknown>): ParsedServerMessage {
  if (!isId(v.jobId) || !isId(v.leaseId)) return invalid('assign.jobId and assign.leaseId must be strings of 1-128 characters');
  const { jobId, leaseId } = v;
  const bad = (problem: string): ParsedServerMessage => ({ kind: 'bad-assign', jobId, leaseId, problem });
  if (!isReplica(v.replica)) return bad('replica must be a non-negative integer');
  if (!isTime(v.expiresAt)) return bad('expiresAt must be a time in ms');
  const m = v.model;
  if (!isRecord(m) || typeof m.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.sha256) || !Number.isSafeInteger(m.bytes) || (m.bytes as number) < 0 || typeof m.url !== 'string') {
    return bad('model must be { sha256: 64 lower-case hex digits, bytes, url }');
  }
  if (!Array.isArray(v.inputs)) return bad('inputs must be an array of tensors');
  const inputs: WireTensor[] = [];
  for (const [i, t] of v.inputs.entries()) {
    if (!isRecord(t)) return bad(`inputs[${i}] must be a tensor`);
    const tensor = { name: t.name, dtype: t.dtype, dims: t.dims, data: t.data } as WireTensor;
    const problem = tensorProblem(tensor);
    if (problem) return bad(`inputs[${i}]: ${problem}`);
    inputs.push({ name: tensor.name, dtype: tensor.dtype, dims: [...tensor.dims], data: tensor.data });
  }
  const outputs = v.outputs ?? [];
  if (!Array.isArray(outputs) || !outputs.every((o) => typeof o === 'string')) return bad('outputs must be an array of names');
  const message: AssignMessage = {
    type: 'assign',
    jobId,
    replica: v.replica,
    leaseId,
    expiresAt: v.expiresAt,
    model: { sha256: m.sha256, bytes: m.bytes as number, url: m.url },
    inputs,
    outputs: outputs as string[],
  };
  if (v.prefetch !== undefined && v.prefetch !== true) return bad('prefetch must be true when present');
  if (v.prefetch === true) message.prefetch = true;
  return { kind: 'message', message };
}

function parseCancel(v: Record<string, unknown>): ParsedServerMessage {
  if (!isId(v.jobId) || !isId(v.leaseId)) return invalid('cancel.jobId and cancel.leaseId must be strings of 1-128 characters');
  const message: CancelMessage = { type: 'cancel', jobId: v.jobId, leaseId: v.leaseId, reason: typeof v.reason === 'string' ? v.reason.slice(0, 500) : '' };
  return { kind: 'message', message };
}

function parseServerError(v: Record<string, unknown>): ParsedServerMessage {
  if (typeof v.code !== 'string' || typeof v.message !== 'string') return invalid('error.code and error.message must be strings');
  const message: ServerErrorMessage = { type: 'error', code: v.code.slice(0, 100), message: v.message.slice(0, 1000) };
  if (typeof v.ref === 'string') message.ref = v.ref.slice(0, 200);
  return { kind: 'message', message };
}

function parseStageStep(v: Record<string, unknown>): ParsedServerMessage {
  if (!isId(v.id) || !isHex(v.manifest) || !isReplica(v.index) || !isId(v.session) || !isReplica(v.step) || !isReplica(v.start)) {
    return invalid('stage-step must have id, manifest, index, session, step and start');
  }
  const message: StageStepMessage = { type: 'stage-step', id: v.id, manifest: v.manifest, index: v.index, session: v.session, step: v.step, start: v.start };
  if (v.tokens !== undefined) {
    if (!Array.isArray(v.tokens) || !v.tokens.every(isReplica)) return invalid('stage-step.tokens must be an array of token ids');
    message.tokens = v.tokens as number[];
  }
  if (v.hidden !== undefined) {
    if (typeof v.hidden !== 'string' || !/^[A-Za-z0-9_-]*$/.test(v.hidden)) return invalid('stage-step.hidden must be base64url');
    message.hidden = v.hidden;
  }
  if (v.sampling !== undefined) {
    const s = v.sampling;
    if (!isRecord(s) || typeof s.temperature !== 'number' || !(s.temperature >= 0) || typeof s.topP !== 'number' || !(s.topP > 0 && s.topP <= 1) || !Number.isSafeInteger(s.seed)) {
      return invalid('stage-step.sampling must be { temperature ≥ 0, topP in (0, 1], seed }');
    }
    message.sampling = { temperature: s.temperature, topP: s.topP, seed: s.seed as number };
  }
  if (v.forward !== undefined) {
    if (!Array.isArray(v.forward) || v.forward.length > 64 || !v.forward.every((f) => isRecord(f) && typeof f.url === 'string' && DIRECT_URL.test(f.url) && isReplica(f.index) && isId(f.auth))) {
      return invalid('stage-step.forward must be a list of { url: ws://host:port, index, auth }');
    }
    message.forward = (v.forward as { url: string; index: number; auth: string }[]).map((f) => ({ url: f.url, index: f.index, auth: f.auth }));
  }
  if (v.auth !== undefined) {
    if (!isId(v.auth)) return invalid('stage-step.auth must be a string of 1-128 characters');
    message.auth = v.auth;
  }
  return { kind: 'message', message };
}

function isHex(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-f]{64}$/.test(value);
}

function invalid(problem: string): ParsedServerMessage {
  return { kind: 'invalid', problem };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ID;
}

function isReplica(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isTime(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
