/**
 * One stage of a decoder held by this agent (gpu-agent/models/split.ts cuts them): its ONNX session
 * and, per chat session, its layers' KV cache and the record of what it gave at each step. A step
 * already taken is answered from the record, so a coordinator that sends it again (after a lost
 * reply, or while replaying for a replacement downstream) gets the same answer and the cache is
 * never grown twice. Sessions never share a cache; the oldest idle ones are dropped past a bound.
 */
import * as ort from 'onnxruntime-node';
import { sampleToken } from '../../../durable-objects/domain/chat/sampling.ts';
import type { StageInput, StageOutput } from '../../../durable-objects/domain/chat/generation.ts';
import type { ChatManifest } from '../../../durable-objects/contracts/chat.ts';

export interface StageShape {
  /** First and last layer (inclusive) and the model's layer count. */
  from: number;
  to: number;
  layers: number;
  /** The KV cache's heads (fewer than the query heads under grouped-query attention). */
  kvHeads: number;
  headDim: number;
  embed: number;
  vocab: number;
}

/** The shape of stage `index` of a manifest's cut. */
export function stageShape(m: ChatManifest, index: number): StageShape {
  const stage = m.stages[index];
  if (!stage) throw new Error(`the model is cut into ${m.stages.length} stage(s), 0 to ${m.stages.length - 1}: there is no stage ${index}`);
  return { from: stage.from, to: stage.to, layers: m.layers, kvHeads: m.kvHeads ?? m.heads, headDim: m.embed / m.heads, embed: m.embed, vocab: m.vocab };
}

export class StageStepError extends Error {
  constructor(
    readonly code: 'STAGE__STEP_GAP' | 'STAGE__BAD_INPUT',
    message: string,
  ) {
    super(message);
  }
}

interface Session {
  cache: Record<string, ort.Tensor>;
  outputs: StageOutput[];
  positions: number;
  usedAt: number;
  /** Steps run one after another: a session's cache is grown in order. */
  queue: Promise<unknown>;
}

const ids = (values: readonly number[], dims = [1, values.length]) => new ort.Tensor('int64', BigInt64Array.from(values, (v) => BigInt(v)), dims);

export class StageRunner {
  private readonly sessions = new Map<string, Session>();
  private clock = 0;

  private constructor(
    private readonly ort: ort.InferenceSession,
    readonly shape: StageShape,
    private readonly maxSessions: number,
  ) {}

  get first(): boolean {
    return this.shape.from === 0;
  }

  get last(): boolean {
    return this.shape.to === this.shape.layers - 1;
  }

  static async load(model: Uint8Array | string, shape: StageShape, o: { threads?: number; maxSessions?: number } = {}): Promise<StageRunner> {
    const session = await ort.InferenceSession.create(model as Uint8Array, { intraOpNumThreads: o.threads ?? 1, interOpNumThreads: 1, logSeverityLevel: 3 });
    return new StageRunner(session, shape, o.maxSessions ?? 64);
  }

  /** How many steps the session has taken here (0 for one this stage has not seen). */
  steps(session: string): number {
    return this.sessions.get(session)?.outputs.length ?? 0;
  }

  step(input: StageInput): Promise<StageOutput> {
    let s = this.sessions.get(input.session);
    if (!s) {
      s = { cache: {}, outputs: [], positions: 0, usedAt: 0, queue: Promise.resolve() };
      this.sessions.set(input.session, s);
      this.evict(input.session);
    }
    const session = s;
    session.usedAt = ++this.clock;
    const run = session.queue.then(() => this.run(session, input));
    session.queue = run.catch(() => undefined);
    return run;
  }

  close(session: string): void {
    this.sessions.delete(session);
  }

  async release(): Promise<void> {
    this.sessions.clear();
    await this.ort.release();
  }

  private async run(s: Session, input: StageInput): Promise<StageOutput> {
    const recorded = s.outputs[input.step];
    if (recorded) return recorded;
    if (input.step !== s.outputs.length) throw new StageStepError('STAGE__STEP_GAP', `step ${input.step} arrived after step ${s.outputs.length - 1}: replay the session's earlier steps first`);
    if (input.start !== s.positions) throw new StageStepError('STAGE__BAD_INPUT', `step ${input.step} starts at position ${input.start}, the cache holds ${s.positions}`);
    const { embed, kvHeads, headDim, from, to } = this.shape;
    const length = this.first ? (input.tokens?.length ?? 0) : (input.hidden?.length ?? 0) / embed;
    if (!Number.isInteger(length) || length < 1) throw new StageStepError('STAGE__BAD_INPUT', this.first ? 'the first stage takes tokens' : `the hidden state must be a whole number of ${embed}-wide rows`);
    const total = s.positions + length;
    const feeds: Record<string, ort.Tensor> = {};
    // A stage that does not read them does not take them (split.ts drops them from its inputs).
    if (this.ort.inputNames.includes('attention_mask')) feeds.attention_mask = ids(new Array<number>(total).fill(1));
    if (this.ort.inputNames.includes('position_ids')) feeds.position_ids = ids(Array.from({ length }, (_, i) => s.positions + i));
    if (this.first) feeds.input_ids = ids(input.tokens!);
    else feeds[`hidden.${from - 1}`] = new ort.Tensor('float32', input.hidden!, [1, length, embed]);
    const empty = new ort.Tensor('float32', new Float32Array(0), [1, kvHeads, 0, headDim]);
    for (let l = from; l <= to; l++) {
      feeds[`past_key_values.${l}.key`] = s.cache[`present.${l}.key`] ?? empty;
      feeds[`past_key_values.${l}.value`] = s.cache[`present.${l}.value`] ?? empty;
    }
    const out = await this.ort.run(feeds);
    for (let l = from; l <= to; l++) {
      s.cache[`present.${l}.key`] = out[`present.${l}.key`]!;
      s.cache[`present.${l}.value`] = out[`present.${l}.value`]!;
    }
    let result: StageOutput;
    if (this.last) {
      const logits = out.logits!.data as Float32Array;
      const row = logits.subarray((length - 1) * this.shape.vocab, length * this.shape.vocab);
      result = { token: sampleToken(row, input.sampling ?? { temperature: 0, topP: 1, seed: 0 }, input.step) };
    } else {
      result = { hidden: (out[`hidden.${to}`]!.data as Float32Array).slice() };
    }
    s.outputs.push(result);
    s.positions = total;
    return result;
  }

  /** Drops the least recently used sessions past the bound (never the one just opened). */
  private evict(keep: string): void {
    while (this.sessions.size > this.maxSessions) {
      let oldest: [string, Session] | undefined;
      for (const e of this.sessions) if (e[0] !== keep && (!oldest || e[1].usedAt < oldest[1].usedAt)) oldest = e;
      if (!oldest) return;
      this.sessions.delete(oldest[0]);
    }
  }
}
