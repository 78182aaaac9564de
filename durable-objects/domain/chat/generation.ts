/**
 * One completion through a route of stages (collaborative inference, DESIGN.md section 10). Step 0
 * carries the prompt's tokens through every stage, each later step the token the last stage chose;
 * each stage keeps its layers' cache for the session and records what it gave at every step, so a
 * step sent again is answered from the record (idempotent). A stage that fails is replaced by
 * another holder, which rebuilds its cache by replaying the session's steps from the first stage
 * (the stages before it answer from their records), then takes the failed step: the completion
 * goes on with no token lost or repeated, identical to an unbroken run.
 *
 * The links are the transport: in-process runners in tests, agents' sockets in the market object.
 */
import type { Sampling } from './sampling.ts';

/** What a stage is given at one step: the tokens (first stage) or the hidden state before its layers. */
export interface StageInput {
  session: string;
  step: number;
  /** The position of the step's first token. */
  start: number;
  tokens?: number[];
  hidden?: Float32Array;
  /** The last stage chooses the token with it (the step is the token's index in the completion). */
  sampling?: Sampling;
}

/** What a stage gives: the hidden state after its layers, or (the last stage) the chosen token. */
export type StageOutput = { hidden: Float32Array } | { token: number };

export interface StageLink {
  /** Who holds the stage (an agent key), for the route's report. */
  readonly holder: string;
  step(input: StageInput): Promise<StageOutput>;
  /** Frees the session's cache (best effort). */
  close(session: string): void;
}

export interface GenerationRequest {
  session: string;
  prompt: number[];
  maxTokens: number;
  sampling: Sampling;
}

export interface GenerationHooks {
  /**
   * The stage at `index` failed (its error given): another link holding it, or null when there is
   * none (the completion then fails with the error).
   */
  replace(index: number, failed: StageLink, error: unknown): Promise<StageLink | null>;
  /** A replacement took over at `index` and rebuilt `steps` steps. */
  replaced?(index: number, link: StageLink, steps: number): void;
  /**
   * Direct mode: the step carried through every stage by the agents themselves (each sending its
   * output straight to the next), answered with the last stage's token; null, or a failure, and the
   * step goes through the stages one by one instead (each relayed, a failed one replaced; the
   * stages that took the step already answer from their records).
   */
  pipeline?(input: StageInput): Promise<StageOutput | null>;
  /** Each stage's input and output at each step of the completion (not the replays), in order: what verification digests. */
  observe?(index: number, input: StageInput, output: StageOutput): void | Promise<void>;
}

export class RouteFailedError extends Error {
  constructor(
    readonly stage: number,
    override readonly cause: unknown,
  ) {
    super(`stage ${stage} failed and no other holder could take it over: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

/**
 * The completion's tokens, one at a time, through `links` (one per stage, in order; the array is
 * updated in place when a stage is replaced). The caller stops early by returning from the loop
 * (end of text, a stop sequence); the sessions' caches are freed either way.
 */
export async function* generate(links: StageLink[], request: GenerationRequest, hooks: GenerationHooks): AsyncGenerator<number> {
  const { session, prompt } = request;
  const completion: number[] = [];
  const inputOf = (step: number) => ({ start: step === 0 ? 0 : prompt.length + step - 1, tokens: step === 0 ? prompt : [completion[step - 1]!] });
  const last = links.length - 1;

  /** Runs `step` at stage `index` with its input, replacing the stage (rebuilt by replay) until one succeeds. */
  const at = async (index: number, input: StageInput): Promise<StageOutput> => {
    for (;;) {
      const link = links[index]!;
      try {
        return await link.step(input);
      } catch (error) {
        const next = await hooks.replace(index, link, error);
        if (!next) throw new RouteFailedError(index, error);
        links[index] = next;
        // Rebuild the newcomer's cache: the earlier steps from the first stage, the stages before it answering from their records.
        for (let s = 0; s < input.step; s++) await through(s, index);
        hooks.replaced?.(index, next, input.step);
      }
    }
  };

  /** Carries `step` from the first stage through stage `upTo` (inclusive); `live` steps are observed, replays are not. */
  const through = async (step: number, upTo: number, live = false): Promise<StageOutput> => {
    const { start, tokens } = inputOf(step);
    let out: StageOutput = { hidden: new Float32Array(0) };
    for (let i = 0; i <= upTo; i++) {
      const input: StageInput = { session, step, start, ...(i === 0 ? { tokens } : { hidden: (out as { hidden: Float32Array }).hidden }), ...(i === last ? { sampling: request.sampling } : {}) };
      out = await at(i, input);
      if (live) await hooks.observe?.(i, input, out);
    }
    return out;
  };

  try {
    for (let step = 0; step < request.maxTokens; step++) {
      const { start, tokens } = inputOf(step);
      const direct = hooks.pipeline ? await hooks.pipeline({ session, step, start, tokens, sampling: request.sampling }).catch(() => null) : null;
      const out = direct ?? (await through(step, last, true));
      if (!('token' in out)) throw new Error('the last stage gave no token');
      completion.push(out.token);
      yield out.token;
    }
  } finally {
    for (const l of links) l.close(session);
  }
}
