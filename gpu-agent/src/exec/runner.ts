import * as ort from 'onnxruntime-node';
import type { WireTensor } from '../../../durable-objects/contracts/tensors.ts';
import { AgentExecError, isAgentExecError } from './errors.ts';
import type { ModelCache } from './model-cache.ts';
import type { ExecutionProvider } from './runtime.ts';
import { ortToRaw, rawTensorsDigest, rawToWire, wireToOrt, type RawTensor } from './wire.ts';

export interface RunnerOptions {
  executionProvider: ExecutionProvider;
  /** Where models come from, by hash. */
  cache: Pick<ModelCache, 'get'>;
  /** Threads per session run; 1 by default (deterministic, and several agents share a machine). */
  intraOpNumThreads?: number;
  /** Sessions kept loaded, least recently used evicted; 4 by default. */
  maxSessions?: number;
}

export interface RunRequest {
  modelSha256: string;
  inputs: WireTensor[];
  /** Output names to return, in this order; omitted or empty means all, in the model's order. */
  outputs?: string[];
}

export interface RunResult {
  outputs: WireTensor[];
  /** `tensorsDigest` of the outputs (computed from the raw bytes): equal on equal runtime fingerprints. */
  outputDigest: string;
  /** loadMs: getting the session (cache fetch + session build, ~0 when loaded); runMs: session.run alone. */
  timings: { loadMs: number; runMs: number };
}

interface SessionEntry {
  session: Promise<ort.InferenceSession>;
  busy: number;
  evicted: boolean;
}

/** Runs ONNX models by content address on one execution provider, with a small LRU of loaded sessions. */
export class OnnxRunner {
  readonly executionProvider: ExecutionProvider;
  private readonly cache: Pick<ModelCache, 'get'>;
  private readonly maxSessions: number;
  private readonly sessionOptions: ort.InferenceSession.SessionOptions;
  /** Map order is recency: the first key is the least recently used. */
  private readonly sessions = new Map<string, SessionEntry>();

  constructor(o: RunnerOptions) {
    this.executionProvider = o.executionProvider;
    this.cache = o.cache;
    this.maxSessions = Math.max(1, o.maxSessions ?? 4);
    this.sessionOptions = {
      executionProviders: o.executionProvider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
      intraOpNumThreads: o.intraOpNumThreads ?? 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
    };
  }

  /** Runs a model on wire inputs; throws AgentExecError (RUN_FAILED, or the cache's codes). */
  async run(req: RunRequest): Promise<RunResult> {
    const t0 = performance.now();
    const entry = this.acquire(req.modelSha256);
    try {
      const session = await entry.session;
      const t1 = performance.now();
      const feeds = this.feeds(req, session);
      const fetches = this.fetches(req, session);
      const tRun = performance.now();
      let results: ort.InferenceSession.ReturnType;
      try {
        results = await session.run(feeds, fetches);
      } catch (e) {
        throw failed(req.modelSha256, `onnxruntime: ${message(e)}`);
      }
      const t2 = performance.now();
      const raw: RawTensor[] = [];
      for (const name of fetches) {
        const tensor = results[name];
        if (!tensor) throw failed(req.modelSha256, `the model did not produce output ${JSON.stringify(name)}`);
        const r = ortToRaw(name, tensor);
        if (typeof r === 'string') throw failed(req.modelSha256, r);
        raw.push(r);
      }
      return { outputs: raw.map(rawToWire), outputDigest: rawTensorsDigest(raw), timings: { loadMs: ms(t1 - t0), runMs: ms(t2 - tRun) } };
    } finally {
      this.releaseEntry(entry);
    }
  }

  /** Model hashes with a loaded (or loading) session, least recently used first. */
  loadedModels(): string[] {
    return [...this.sessions.keys()];
  }

  /** Releases every session; one still running is released when its runs finish. */
  async close(): Promise<void> {
    const entries = [...this.sessions.values()];
    this.sessions.clear();
    for (const e of entries) e.evicted = true;
    await Promise.all(entries.filter((e) => e.busy === 0).map(dispose));
  }

  private feeds(req: RunRequest, session: ort.InferenceSession): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {};
    const wanted = new Set(session.inputNames);
    for (const input of req.inputs) {
      if (!wanted.has(input.name)) throw failed(req.modelSha256, `unknown input ${JSON.stringify(input.name)}; the model takes ${list(session.inputNames)}`);
      if (feeds[input.name]) throw failed(req.modelSha256, `input ${JSON.stringify(input.name)} given twice`);
      const meta = session.inputMetadata.find((m) => m.name === input.name);
      if (meta?.isTensor && meta.type !== input.dtype) throw failed(req.modelSha256, `input ${JSON.stringify(input.name)} is ${input.dtype}; the model takes ${meta.type}`);
      const tensor = wireToOrt(input);
      if (typeof tensor === 'string') throw failed(req.modelSha256, tensor);
      feeds[input.name] = tensor;
    }
    const missing = session.inputNames.filter((n) => !feeds[n]);
    if (missing.length > 0) throw failed(req.modelSha256, `missing input ${list(missing)}`);
    return feeds;
  }

  private fetches(req: RunRequest, session: ort.InferenceSession): readonly string[] {
    if (!req.outputs || req.outputs.length === 0) return session.outputNames;
    const known = new Set(session.outputNames);
    const seen = new Set<string>();
    for (const name of req.outputs) {
      if (!known.has(name)) throw failed(req.modelSha256, `unknown output ${JSON.stringify(name)}; the model gives ${list(session.outputNames)}`);
      if (seen.has(name)) throw failed(req.modelSha256, `output ${JSON.stringify(name)} asked twice`);
      seen.add(name);
    }
    return req.outputs;
  }

  private acquire(sha256: string): SessionEntry {
    let entry = this.sessions.get(sha256);
    if (entry) {
      this.sessions.delete(sha256);
    } else {
      entry = { session: this.load(sha256), busy: 0, evicted: false };
      // A failed load is forgotten so that the next run tries again.
      const created = entry;
      created.session.catch(() => {
        if (this.sessions.get(sha256) === created) this.sessions.delete(sha256);
      });
    }
    this.sessions.set(sha256, entry);
    entry.busy++;
    this.evict();
    return entry;
  }

  private async load(sha256: string): Promise<ort.InferenceSession> {
    const path = await this.cache.get(sha256);
    try {
      return await ort.InferenceSession.create(path, this.sessionOptions);
    } catch (e) {
      throw failed(sha256, `the model could not be loaded: ${message(e)}`);
    }
  }

  private evict(): void {
    for (const [sha256, entry] of this.sessions) {
      if (this.sessions.size <= this.maxSessions) break;
      this.sessions.delete(sha256);
      entry.evicted = true;
      if (entry.busy === 0) void dispose(entry);
    }
  }

  private releaseEntry(entry: SessionEntry): void {
    entry.busy--;
    if (entry.evicted && entry.busy === 0) void dispose(entry);
  }
}

async function dispose(entry: SessionEntry): Promise<void> {
  try {
    await (await entry.session).release();
  } catch {
    // a session that never loaded has nothing to release
  }
}

function failed(sha256: string, reason: string): AgentExecError {
  return new AgentExecError('AGENT__RUN_FAILED', { sha256, reason });
}

const message = (e: unknown): string => (isAgentExecError(e) ? e.message : e instanceof Error ? e.message : String(e));
const list = (names: readonly string[]): string => names.map((n) => JSON.stringify(n)).join(', ');
const ms = (x: number): number => Math.round(x * 1000) / 1000;
