/**
 * Collaborative inference on the wire (DESIGN.md section 10). A chat model is named by its
 * **manifest**: the decoder's shape, its tokenizer's SHA-256 and its stages (layer range and the
 * stage file's SHA-256 each). The manifest's own SHA-256 (of its canonical JSON) is what agents
 * announce and routes are built for: stages of two manifests never mix, and a stage file that is
 * not the manifest's is refused by the agent that would load it.
 *
 * Stage messages travel on the agent's socket: the market object sends `stage-step` (the session,
 * the step, its input) and the agent answers `stage-output` (the hidden state after its layers, or
 * the chosen token) or `stage-error`, matched by `id`. Hidden states travel as base64url of
 * little-endian float32.
 */
import * as v from 'valibot';
import { base64UrlDecode, base64UrlEncode, sha256Hex } from './auth.ts';
import { canonicalJson } from '../domain/canonical.ts';
import { HEX64 } from './schemas.ts';
import type { ChatMessageIn } from '../domain/chat/rules.ts';
import type { Sampling } from '../domain/chat/sampling.ts';
import type { SlashOutcome } from '../domain/slash.ts';

export interface ChatStage {
  from: number;
  to: number;
  /** SHA-256 of the stage's ONNX file. */
  sha256: string;
}

export interface ChatManifest {
  /** The name clients ask for (`model` in /v1/chat/completions). */
  name: string;
  vocab: number;
  embed: number;
  heads: number;
  /** The KV cache's heads where fewer than `heads` (grouped-query attention); absent: `heads`. */
  kvHeads?: number;
  layers: number;
  maxPositions: number;
  /** Token ids that end a completion. */
  endTokens: number[];
  tokenizerSha256: string;
  stages: ChatStage[];
}

/** An agent's address for direct steps: a WebSocket URL with a host and a port, no path. */
export const DIRECT_URL = /^ws:\/\/[A-Za-z0-9.\-\[\]:]{1,180}:[0-9]{1,5}$/;

/** What an agent announces in hello for each stage it holds. */
export interface StageAnnouncement {
  /** SHA-256 of the manifest's canonical JSON. */
  manifest: string;
  index: number;
}

export async function manifestSha256(m: ChatManifest): Promise<string> {
  return sha256Hex(new TextEncoder().encode(canonicalJson(m)));
}

const int = (min: number, max: number) => v.pipe(v.number('must be an integer'), v.safeInteger('must be an integer'), v.minValue(min, `must be between ${min} and ${max}`), v.maxValue(max, `must be between ${min} and ${max}`));
const hex = v.pipe(v.string('must be a string'), v.regex(HEX64, 'must be 64 lowercase hex characters'));

/** Bounds on what an agent may describe: generous for real models, small enough to hold in memory. */
export const CHAT_LIMITS = { stages: 64, heldStages: 8, layers: 1024, vocab: 1_000_000, embed: 65_536, positions: 1_048_576, tokenizerBytes: 16 * 1024 * 1024 } as const;

export const ChatManifestSchema = v.strictObject(
  {
    name: v.pipe(v.string('must be a string'), v.regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,95}$/, 'must be 1-96 letters, digits and ._:/-')),
    vocab: int(2, CHAT_LIMITS.vocab),
    embed: int(1, CHAT_LIMITS.embed),
    heads: int(1, 1024),
    kvHeads: v.optional(int(1, 1024)),
    layers: int(1, CHAT_LIMITS.layers),
    maxPositions: int(2, CHAT_LIMITS.positions),
    endTokens: v.pipe(v.array(int(0, CHAT_LIMITS.vocab), 'must be an array'), v.maxLength(16, 'must have at most 16 items')),
    tokenizerSha256: hex,
    stages: v.pipe(v.array(v.strictObject({ from: int(0, CHAT_LIMITS.layers), to: int(0, CHAT_LIMITS.layers), sha256: hex }, 'must be an object'), 'must be an array'), v.minLength(1, 'must not be empty'), v.maxLength(CHAT_LIMITS.stages, `must have at most ${CHAT_LIMITS.stages} items`)),
  },
  'must be an object',
);

/** Why a manifest's numbers do not hang together, or null. */
export function manifestProblem(m: ChatManifest): string | null {
  if (m.embed % m.heads !== 0) return 'embed must be a multiple of heads';
  // Given only where fewer, so that one model has one manifest.
  if (m.kvHeads !== undefined && (m.kvHeads >= m.heads || m.heads % m.kvHeads !== 0)) return 'kvHeads must be fewer than heads and divide them';
  let next = 0;
  for (const s of m.stages) {
    if (s.from !== next || s.to < s.from) return 'stages must cover consecutive layer ranges from 0';
    next = s.to + 1;
  }
  if (next !== m.layers) return `stages must cover layers 0 to ${m.layers - 1}`;
  if (m.endTokens.some((t) => t >= m.vocab)) return 'endTokens must be within the vocabulary';
  return null;
}

export const StageAnnouncementSchema = v.strictObject({ manifest: hex, index: int(0, CHAT_LIMITS.stages - 1) }, 'must be an object');

/** A float32 array as base64url of its little-endian bytes (the platforms we run on are little-endian). */
export function encodeFloats(a: Float32Array): string {
  return base64UrlEncode(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}

export function decodeFloats(text: string): Float32Array {
  const bytes = base64UrlDecode(text);
  if (bytes.byteLength % 4 !== 0) throw new Error('a float32 array must be a multiple of 4 bytes');
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4).slice();
}

// ---- between the Worker and the market object --------------------------------------------------

/** Who pays for a completion: the API key's wallet, within the key's limit. */
export interface ChatPayer {
  account: string;
  apiKeyId: string;
}

/**
 * An API key as OpenAI clients send it (`Authorization: Bearer …`): `sk-doug_<wallet>_<id>_<secret>`,
 * the wallet in base58, the id as the account knows it, the secret (base58) that only the client
 * holds; the account keeps the secret's SHA-256.
 */
export function apiKeyText(o: { wallet: string; id: string; secret: string }): string {
  return `sk-doug_${o.wallet}_${o.id}_${o.secret}`;
}

const API_KEY_TEXT = /^sk-doug_([1-9A-HJ-NP-Za-km-z]{32,44})_([a-z0-9]{8,32})_([1-9A-HJ-NP-Za-km-z]{20,64})$/;

export function parseApiKey(text: string): { wallet: string; id: string; secret: string } | null {
  const m = API_KEY_TEXT.exec(text);
  return m ? { wallet: m[1]!, id: m[2]!, secret: m[3]! } : null;
}

export interface ChatRequest {
  model: string;
  messages: ChatMessageIn[];
  /** Completion tokens at most (absent: the default, within the model's positions). */
  maxTokens?: number;
  sampling: Sampling;
  stop: string[];
  payer: ChatPayer;
}

export interface RouteStage {
  stage: number;
  from: number;
  to: number;
  agentKey: string;
  provider: string;
}

/** What a completion streams, one JSON line each. */
export type ChatEvent =
  | { type: 'start'; model: string; manifest: string; promptTokens: number; maxTokens: number; route: RouteStage[] }
  | { type: 'delta'; text: string; tokens: number }
  | { type: 'replaced'; stage: number; agentKey: string; provider: string; steps: number }
  | { type: 'done'; finishReason: 'stop' | 'length'; promptTokens: number; completionTokens: number; route: RouteStage[]; tokensDigest: string; /** Base units charged. */ charge: string; /** Whether it is re-run on other agents before it is settled. */ checked: boolean; /** Steps the agents carried to each other directly (the rest were relayed). */ directSteps: number }
  | { type: 'error'; code: string; message: string };

export interface ChatModelView {
  id: string;
  manifest: string;
  stages: number;
  layers: number;
  maxPositions: number;
  /** Connected holders per stage. */
  holders: number[];
  /** Every stage has a holder: the model can be served now. */
  servable: boolean;
}

/** A holder a verification found at fault, and where its provider's slash stands (GET /v1/chat/faults). */
export interface ChatFaultView {
  agentKey: string;
  provider: string | null;
  /** Unix ms it was found. */
  at: number;
  manifest: string;
  stage: number;
  /** Null for a fault recorded before slashes were. */
  slash: { outcome: 'pending' | SlashOutcome; proposal: number | null; amount: string | null; executableAt: number | null; reason: string | null } | null;
}


/**
 * The text frames of a byte stream, split at `separator`: the JSON lines a completion streams
 * from the market object ("\n"), or the events of server-sent events ("\n\n"). Reading stops
 * (and the stream is cancelled) when the caller stops.
 */
export async function* frames(stream: ReadableStream<Uint8Array>, separator: string): AsyncGenerator<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffered += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffered.indexOf(separator)) >= 0) {
        const frame = buffered.slice(0, end);
        buffered = buffered.slice(end + separator.length);
        if (frame) yield frame;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
