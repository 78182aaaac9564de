import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { AgentExecError, isAgentExecError, type AgentExecErrorCode } from './errors.ts';
import type { ModelCache } from './model-cache.ts';
import { OnnxRunner, type RunRequest, type RunResult, type RunnerOptions } from './runner.ts';

/** What a run may be told besides its request: an abort, and a hook called when it really starts. */
export interface RunControl {
  signal?: AbortSignal;
  onStart?: () => void;
}

/**
 * ONNX runs in worker threads, one OnnxRunner per thread. onnxruntime-node's session.run holds the
 * thread that calls it for the whole run (synchronously, after a setImmediate), so on the agent's
 * main thread two slots never ran at once, a long run held back heartbeats and socket frames, and
 * the protocol's work for the next job waited for the run to end. Here the main thread keeps the
 * socket and the model cache (downloads stay where the fetcher is); each thread loads sessions from
 * the cache's files (each its own copy of a model's session) and runs its queue in order.
 *
 * A run may be queued behind the one a thread is running (`queue` runs at most, over all threads):
 * the agent hands over prefetched work this way, so the next run starts in the thread the moment
 * the last one ends instead of a round trip through the main thread later; `onStart` tells the
 * agent when it did (its lease starts then). An aborted run that has not started is taken out of
 * the queue. Errors come back with their codes; a thread that dies (its runs are refused, saying
 * so) is replaced by a fresh one at the next run.
 */
export class RunnerPool {
  /** Runs the pool holds queued beyond the running ones: one per thread. */
  readonly queue: number;
  private readonly cache: Pick<ModelCache, 'get'>;
  private readonly options: ThreadOptions;
  private readonly threads: PoolThread[];
  private closed = false;
  /** A model once on disk stays there (the cache only adds files), so its path is asked for once. */
  private readonly paths = new Map<string, string>();

  constructor(o: RunnerOptions & { threads?: number }) {
    const threads = Math.max(1, o.threads ?? 1);
    this.cache = o.cache;
    this.queue = threads;
    this.options = { executionProvider: o.executionProvider, intraOpNumThreads: o.intraOpNumThreads, maxSessions: o.maxSessions };
    this.threads = Array.from({ length: threads }, () => new PoolThread(this.options));
  }

  /** As OnnxRunner.run; the model file is fetched here, the run happens in the least busy thread. */
  async run(req: RunRequest, control: RunControl = {}): Promise<RunResult> {
    if (this.closed) throw new AgentExecError('AGENT__RUN_FAILED', { sha256: req.modelSha256, reason: 'the runner is closed' });
    const path = this.paths.get(req.modelSha256) ?? (await this.cache.get(req.modelSha256));
    this.paths.set(req.modelSha256, path);
    // A thread that died (its runs were refused with the reason) is replaced by a fresh one.
    for (let i = 0; i < this.threads.length; i++) if (this.threads[i]!.dead) this.threads[i] = new PoolThread(this.options);
    let thread = this.threads[0]!;
    for (const t of this.threads) if (t.outstanding < thread.outstanding) thread = t;
    return thread.run(path, req, control);
  }

  /** Ends the threads (their sessions go with them); runs still held are refused. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.map((t) => t.close()));
  }
}

interface ThreadOptions {
  executionProvider: RunnerOptions['executionProvider'];
  intraOpNumThreads: number | undefined;
  maxSessions: number | undefined;
}

type Call = { type: 'run'; id: number; path: string; req: RunRequest } | { type: 'cancel'; id: number };
type Reply =
  | { type: 'started'; id: number }
  | { type: 'done'; id: number; result: RunResult }
  | { type: 'failed'; id: number; code?: AgentExecErrorCode; context: Record<string, unknown>; message: string };

interface Pending {
  resolve: (r: RunResult) => void;
  reject: (e: Error) => void;
  onStart: (() => void) | undefined;
  detach: () => void;
}

/** One worker thread and the runs it holds. */
class PoolThread {
  private readonly worker: Worker;
  private next = 0;
  private readonly pending = new Map<number, Pending>();
  private error: Error | null = null;

  constructor(options: ThreadOptions) {
    this.worker = new Worker(new URL('./ts-thread.mjs', import.meta.url), { workerData: { module: import.meta.url, onnxRunnerThread: options } });
    // Idle threads do not keep the agent's process alive; a run in flight holds a ref.
    this.worker.unref();
    this.worker.on('message', (m: Reply) => this.onReply(m));
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', (code) => this.fail(new Error(`the runner thread exited (${code})`)));
  }

  /** Whether the thread has ended (an error, an exit, or closed). */
  get dead(): boolean {
    return this.error !== null;
  }

  /** Runs held (queued or running) by this thread. */
  get outstanding(): number {
    return this.pending.size;
  }

  run(path: string, req: RunRequest, control: RunControl): Promise<RunResult> {
    if (this.error) return Promise.reject(this.error);
    const { signal } = control;
    if (signal?.aborted) return Promise.reject(new AgentExecError('AGENT__RUN_FAILED', { sha256: req.modelSha256, reason: 'aborted before it started' }));
    return new Promise<RunResult>((resolve, reject) => {
      const id = ++this.next;
      const onAbort = () => this.worker.postMessage({ type: 'cancel', id } satisfies Call);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, { resolve, reject, onStart: control.onStart, detach: () => signal?.removeEventListener('abort', onAbort) });
      if (this.pending.size === 1) this.worker.ref();
      this.worker.postMessage({ type: 'run', id, path, req } satisfies Call);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private onReply(m: Reply): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.type === 'started') {
      p.onStart?.();
      return;
    }
    this.settle(m.id, p);
    if (m.type === 'done') p.resolve(m.result);
    else p.reject(m.code ? new AgentExecError(m.code, m.context) : new Error(m.message));
  }

  private settle(id: number, p: Pending): void {
    this.pending.delete(id);
    p.detach();
    if (this.pending.size === 0) this.worker.unref();
  }

  private fail(error: Error): void {
    this.error ??= error;
    for (const [id, p] of [...this.pending]) {
      this.settle(id, p);
      p.reject(error);
    }
  }
}

/** Inside a thread: runs its queue in order, one at a time, skipping runs cancelled before they started. */
function serve(o: ThreadOptions): void {
  const port = parentPort!;
  // The main thread has put each model on disk before sending its run; this cache only names the file.
  const paths = new Map<string, string>();
  const runner = new OnnxRunner({
    executionProvider: o.executionProvider,
    ...(o.intraOpNumThreads !== undefined ? { intraOpNumThreads: o.intraOpNumThreads } : {}),
    ...(o.maxSessions !== undefined ? { maxSessions: o.maxSessions } : {}),
    cache: { get: async (sha256) => paths.get(sha256) ?? Promise.reject(new AgentExecError('AGENT__MODEL_UNAVAILABLE', { sha256, reason: 'not on disk' })) },
  });
  const queue: Extract<Call, { type: 'run' }>[] = [];
  let busy = false;
  const pump = async () => {
    if (busy) return;
    busy = true;
    for (let m = queue.shift(); m !== undefined; m = queue.shift()) {
      paths.set(m.req.modelSha256, m.path);
      port.postMessage({ type: 'started', id: m.id } satisfies Reply);
      try {
        port.postMessage({ type: 'done', id: m.id, result: await runner.run(m.req) } satisfies Reply);
      } catch (e) {
        port.postMessage(
          (isAgentExecError(e)
            ? { type: 'failed', id: m.id, code: e.code, context: e.context, message: e.message }
            : { type: 'failed', id: m.id, context: {}, message: e instanceof Error ? e.message : String(e) }) satisfies Reply,
        );
      }
    }
    busy = false;
  };
  port.on('message', (m: Call) => {
    if (m.type === 'run') {
      queue.push(m);
      void pump();
      return;
    }
    const i = queue.findIndex((q) => q.id === m.id);
    if (i < 0) return; // running or done: its answer comes back and is ignored by the agent
    const [gone] = queue.splice(i, 1);
    port.postMessage({ type: 'failed', id: gone!.id, code: 'AGENT__RUN_FAILED', context: { sha256: gone!.req.modelSha256, reason: 'cancelled before it started' }, message: 'cancelled before it started' } satisfies Reply);
  });
}

if (!isMainThread && (workerData as { onnxRunnerThread?: ThreadOptions } | null)?.onnxRunnerThread) {
  serve((workerData as { onnxRunnerThread: ThreadOptions }).onnxRunnerThread);
}
