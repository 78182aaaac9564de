/**
 * The rules of a chat completion that the Worker, the market object, the SDK and the portal share:
 * the request's bounds, how a conversation becomes the prompt, how a route is chosen, when a stage
 * counts as failed.
 */

export const CHAT_RULES = {
  /** Completion tokens when the request names none (and never more than the model has positions for). */
  defaultMaxTokens: 256,
  maxMessages: 256,
  maxMessageChars: 32_768,
  maxStops: 4,
  maxStopChars: 64,
  /** A stage that has not answered a step in this long has failed (a hung agent; a closed socket fails at once). */
  stepTimeoutMs: 10_000,
  /** How long a failed stage's replacement is waited for when no other holder is connected (an agent coming back). */
  replaceWaitMs: 5_000,
  /** The weight of the newest step in a holder's measured latency (an exponential moving average). */
  latencyWeight: 0.2,
  /** Replacements one completion may take before it fails. */
  maxReplacements: 16,
  /** A completion's hold still open after this long was orphaned by a restart: it is released. */
  staleHoldMs: 15 * 60_000,
  /** Most memory a completion's recorded stage inputs may take for its verification (else it is not sampled). */
  maxCheckBytes: 32 * 1024 * 1024,
  /** Most faults GET /v1/chat/faults lists per market (newest first). */
  faultsListed: 100,
} as const;

export interface ChatMessageIn {
  role: 'system' | 'user' | 'assistant' | 'developer';
  content: string;
}

/**
 * The prompt a conversation becomes for a base model: each message's text, in order, a blank line
 * apart, ending with a blank line for the model to continue from. (A model folder's own chat
 * template is not read yet; instruction-tuned models get the same plain form.)
 */
export function promptText(messages: readonly ChatMessageIn[]): string {
  return `${messages.map((m) => m.content.trim()).join('\n\n')}\n\n`;
}

/**
 * The completion tokens a request asks for (`max_tokens`, or the default within the model's
 * positions), and whether they fit: a prompt, and it and them within the positions.
 */
export function completionBudget(promptTokens: number, requested: number | undefined, maxPositions: number): { maxTokens: number; fits: boolean } {
  const room = maxPositions - promptTokens;
  const maxTokens = requested ?? Math.min(CHAT_RULES.defaultMaxTokens, room);
  return { maxTokens, fits: promptTokens > 0 && maxTokens <= room && maxTokens >= 1 };
}

/** A stage holder as routing sees it. */
export interface HolderView {
  /** Its socket: a holder that reconnects is the same agent on a new socket. */
  socketId: string;
  agentKey: string;
  provider: string;
  /** Measured step latency (ms), or undefined before its first step. */
  latencyMs?: number;
}

/**
 * The holder a route takes for one stage: never an excluded socket; one not yet measured first (so
 * every holder gets measured), then the fastest measured; ties by agent key, so the choice is
 * deterministic.
 */
export function chooseHolder<H extends HolderView>(candidates: readonly H[], exclude: ReadonlySet<string> = new Set()): H | null {
  let best: H | null = null;
  const cost = (h: H) => h.latencyMs ?? -1;
  for (const h of candidates) {
    if (exclude.has(h.socketId)) continue;
    if (!best || cost(h) < cost(best) || (cost(h) === cost(best) && h.agentKey < best.agentKey)) best = h;
  }
  return best;
}

/** A holder's latency after one more step of `ms`. */
export function nextLatency(previous: number | undefined, ms: number): number {
  return previous === undefined ? ms : previous + CHAT_RULES.latencyWeight * (ms - previous);
}

/**
 * Turns streamed tokens into text deltas: bytes decoded as UTF-8 as they complete (a character
 * split across tokens waits for its last byte), and text that may be the start of a stop sequence
 * held back until it is not. `push` says when a stop sequence appeared (the text before it is the
 * last delta).
 */
export class TextStream {
  private readonly decoder = new TextDecoder();
  private held = '';

  constructor(
    private readonly bytesOf: (ids: readonly number[]) => Uint8Array,
    private readonly stops: readonly string[],
  ) {}

  push(token: number): { text: string; stopped: boolean } {
    this.held += this.decoder.decode(this.bytesOf([token]), { stream: true });
    for (const stop of this.stops) {
      const at = this.held.indexOf(stop);
      if (at >= 0) {
        const text = this.held.slice(0, at);
        this.held = '';
        return { text, stopped: true };
      }
    }
    // Keep back the longest tail that is a prefix of some stop sequence.
    let keep = 0;
    for (const stop of this.stops) {
      for (let n = Math.min(stop.length - 1, this.held.length); n > keep; n--) {
        if (this.held.endsWith(stop.slice(0, n))) {
          keep = n;
          break;
        }
      }
    }
    const text = this.held.slice(0, this.held.length - keep);
    this.held = this.held.slice(this.held.length - keep);
    return { text, stopped: false };
  }

  /** What is left when the completion ends without a stop sequence. */
  end(): string {
    const text = this.held + this.decoder.decode();
    this.held = '';
    return text;
  }
}

/**
 * Whether a requested model id names this model: its name, or its name pinned to one manifest by at
 * least 8 leading hex digits of the manifest's SHA-256 (`doug-austen@1f2e3d4c`: a route of that
 * cut only).
 */
export function modelMatches(requested: string, name: string, manifest: string): boolean {
  const at = requested.lastIndexOf('@');
  if (at < 0) return requested === name;
  const pin = requested.slice(at + 1);
  return requested.slice(0, at) === name && /^[0-9a-f]{8,64}$/.test(pin) && manifest.startsWith(pin);
}
