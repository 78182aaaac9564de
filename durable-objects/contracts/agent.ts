import type { Delegation } from './auth.ts';
import type { WireTensor } from './tensors.ts';
import type { FailureKind } from '../domain/job/failure.ts';
import type { Sampling } from '../domain/chat/sampling.ts';
import type { ChatManifest, StageAnnouncement } from './chat.ts';

/**
 * The agent protocol (docs/architecture.md, "Protocols"): JSON messages over one WebSocket per agent, to its
 * market object at `GET /v1/markets/:market/agent` (upgrade). Every message has `type`; the
 * protocol version travels in hello. The server pushes work only against slots the agent
 * announced (`ready`): the agent pulls. An agent may also announce a prefetch window (`ready`'s
 * `prefetch`): work it holds unstarted beyond its free slots, marked `prefetch` in its assign, whose
 * lease starts only when the agent sends `start`. Fields and messages added since version 1 are
 * optional: an agent that announces no window never gets prefetched work.
 */
export const AGENT_PROTOCOL_VERSION = 1;

/** What the agent signs to prove it holds its key: bound to the market and a server nonce. */
export function helloMessage(o: { market: string; nonce: string; agentKey: string }): string {
  return ['DOUG-AGENT-HELLO-V1', o.market, o.nonce, o.agentKey].join('\n');
}

export interface Hardware {
  cpuModel: string;
  cores: number;
  memoryGb: number;
  gpus: { name: string; memoryGb: number }[];
}

export interface RuntimeFingerprint {
  onnxruntime: string;
  executionProvider: 'cpu' | 'cuda';
  platform: string;
  arch: string;
  cpuFeatures: string[];
}

/** One string naming everything that makes outputs bit-identical: equal strings, equal bits. */
export function fingerprintOf(r: RuntimeFingerprint): string {
  return [`ort-${r.onnxruntime}`, r.executionProvider, r.platform, r.arch, [...r.cpuFeatures].sort().join('+')].join('/');
}

// ---- server → agent ----------------------------------------------------------------------------

export interface ChallengeMessage {
  type: 'challenge';
  nonce: string;
}

export interface WelcomeMessage {
  type: 'welcome';
  /** Leases the server still knows this agent holds (after a reconnect), which it may go on with. */
  leases: { jobId: string; replica: number; leaseId: string; expiresAt: number }[];
  heartbeatMs: number;
}

export interface AssignMessage {
  type: 'assign';
  jobId: string;
  replica: number;
  leaseId: string;
  expiresAt: number;
  model: { sha256: string; bytes: number; url: string };
  inputs: WireTensor[];
  /** Output names to return; empty means all. */
  outputs: string[];
  /**
   * Sent into the agent's prefetch window: hold it until a slot frees, then send `start` (its lease
   * starts then; until then `expiresAt` is no earlier than the time it must be started by).
   */
  prefetch?: true;
}

export interface CancelMessage {
  type: 'cancel';
  jobId: string;
  leaseId: string;
  reason: string;
}

export interface ServerErrorMessage {
  type: 'error';
  code: string;
  message: string;
  /** The message the error is about, when there is one. */
  ref?: string;
}

/** The server does not know a manifest the agent announced: the agent sends it (`manifest`). */
export interface NeedManifestMessage {
  type: 'need-manifest';
  manifest: string;
}

/** One step of a chat session at a stage the agent holds (contracts/chat.ts); answered by `stage-output` or `stage-error` with the same id. */
export interface StageStepMessage {
  type: 'stage-step';
  id: string;
  manifest: string;
  index: number;
  session: string;
  step: number;
  start: number;
  tokens?: number[];
  /** base64url float32 (contracts/chat.ts encodeFloats). */
  hidden?: string;
  sampling?: Sampling;
  /**
   * Direct mode: the stages after this one, each reached at its agent's `direct` address; the
   * output goes to the first of them (as a stage-step carrying the rest), and the last stage
   * answers the server. A hop that cannot be reached is reported to the server as a stage-error
   * naming its stage.
   */
  forward?: { url: string; index: number; auth: string }[];
  /** On a step sent agent to agent: the session's grant for the receiving stage (stage-open). */
  auth?: string;
}

/** Direct mode: steps of this session may come from other agents carrying `auth`. */
export interface StageOpenMessage {
  type: 'stage-open';
  manifest: string;
  index: number;
  session: string;
  auth: string;
}

/** The session is over: the stage frees its cache. */
export interface StageCloseMessage {
  type: 'stage-close';
  manifest: string;
  index: number;
  session: string;
}

export type ServerMessage = ChallengeMessage | WelcomeMessage | AssignMessage | CancelMessage | ServerErrorMessage | NeedManifestMessage | StageStepMessage | StageCloseMessage | StageOpenMessage;

// ---- agent → server ----------------------------------------------------------------------------

export interface HelloMessage {
  type: 'hello';
  v: number;
  /** The agent's hot key (base58); it signs `helloMessage`. */
  agentKey: string;
  signature: string;
  /** The provider wallet's delegation to the agent key (scope "work"); absent when the wallet runs the agent itself. */
  delegation?: Delegation;
  /** The ask this agent serves. */
  askId: string;
  hardware: Hardware;
  runtime: RuntimeFingerprint;
  /** The chat stages the agent holds (collaborative inference); absent: none. */
  stages?: StageAnnouncement[];
  /** Where other agents reach its stages directly (`ws://host:port`); absent: only through the server. */
  direct?: string;
}

export interface ReadyMessage {
  type: 'ready';
  /** Free slots now (absolute, not a delta). */
  slots: number;
  /**
   * Prefetch window (absolute; absent: 0): how many assignments the agent will hold unstarted beyond
   * its free slots, at most MAX_PREFETCH (domain/dispatch).
   */
  prefetch?: number;
}

/** The agent started prefetched work (an assign marked `prefetch`): its lease starts now. */
export interface StartMessage {
  type: 'start';
  jobId: string;
  leaseId: string;
}

export interface HeartbeatMessage {
  type: 'heartbeat';
  leases: string[];
}

export interface ResultMessage {
  type: 'result';
  jobId: string;
  leaseId: string;
  outputs: WireTensor[];
  outputDigest: string;
  timings: { loadMs: number; runMs: number };
}

export interface AgentErrorMessage {
  type: 'error';
  jobId: string;
  leaseId: string;
  code: 'AGENT__MODEL_HASH_MISMATCH' | 'AGENT__MODEL_UNAVAILABLE' | 'AGENT__RUN_FAILED' | 'AGENT__DRAINING';
  message: string;
  /**
   * Set when the run itself failed on this work (AGENT__RUN_FAILED): what kind of failure, from the
   * runtime's words (failureKindOf). The job verifies it like a result (domain/job/failure.ts).
   * Absent for refusals that say nothing about the work (no free slot, draining, model unavailable).
   */
  failure?: FailureKind;
}

/** A manifest the server asked for, with its tokenizer.json text. */
export interface ManifestMessage {
  type: 'manifest';
  manifest: ChatManifest;
  tokenizer: string;
}

export interface StageOutputMessage {
  type: 'stage-output';
  id: string;
  /** base64url float32: the hidden state after the stage's layers (all but the last stage). */
  hidden?: string;
  /** The chosen token (the last stage). */
  token?: number;
  /** Time the stage spent on the step. */
  ms: number;
}

export interface StageErrorMessage {
  type: 'stage-error';
  id: string;
  code: 'STAGE__STEP_GAP' | 'STAGE__BAD_INPUT' | 'STAGE__NOT_HELD' | 'STAGE__FAILED';
  message: string;
  /** Direct mode: the stage of the route that failed (the one this agent could not reach). */
  stage?: number;
}

export type AgentMessage = HelloMessage | ReadyMessage | StartMessage | HeartbeatMessage | ResultMessage | AgentErrorMessage | ManifestMessage | StageOutputMessage | StageErrorMessage;
