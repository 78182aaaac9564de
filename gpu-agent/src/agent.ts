import type {
  AgentErrorMessage,
  AssignMessage,
  CancelMessage,
  ResultMessage,
  ServerErrorMessage,
  WelcomeMessage,
} from '../../durable-objects/contracts/agent.ts';
import { tensorsDigest, wireBytes } from '../../durable-objects/contracts/tensors.ts';
import type { WireTensor } from '../../durable-objects/contracts/tensors.ts';
import { base64UrlEncode } from '../../durable-objects/contracts/auth.ts';
import { MAX_PREFETCH } from '../../durable-objects/domain/dispatch/index.ts';
import { failureKindOf } from '../../durable-objects/domain/job/failure.ts';
import { AgentConnection } from './net/connection.ts';
import type { StageHost } from './chat/stage-host.ts';
import type { ConnectionOptions, WorkMessage } from './net/connection.ts';

/**
 * The agent core: N slots, pulled work. It announces `ready {slots}` (absolute free slots) on
 * welcome and whenever a slot frees; runs each assign on the executor; answers `result` or
 * `error`; drops work the server cancels or no longer lists after a reconnect; and drains on
 * request (ready 0, refuse new work, finish what it holds, then close). With a prefetch window
 * (`ready {slots, prefetch}`) it holds up to that many assigns beyond its slots and starts the next
 * the moment a run ends (`start`), so no round trip to the server stands between two runs.
 */

/** What a run produces: the result message less its ids. */
export type ExecutionResult = Pick<ResultMessage, 'outputs' | 'outputDigest' | 'timings'>;

/**
 * Runs one assignment. A thrown error with a `code` of `AgentErrorCode` is reported as that code.
 * An executor with a `queue` may be handed up to that many runs beyond the slots' running ones (it
 * runs them in order as its slots free up, and calls `onStart` when each really starts); one without
 * is handed a run only when a slot is free, and the run starts when handed.
 */
export interface Executor {
  run(assign: AssignMessage, o: { signal: AbortSignal; onStart?: () => void }): Promise<ExecutionResult>;
  readonly queue?: number;
}

export type AgentErrorCode = AgentErrorMessage['code'];

const REPORTED_CODES: readonly AgentErrorCode[] = ['AGENT__MODEL_HASH_MISMATCH', 'AGENT__MODEL_UNAVAILABLE', 'AGENT__RUN_FAILED', 'AGENT__DRAINING'];

/** An executor failure with a protocol error code. */
export class ExecutionError extends Error {
  readonly code: AgentErrorCode;
  constructor(code: AgentErrorCode, message: string) {
    super(message);
    this.name = 'ExecutionError';
    this.code = code;
  }
}

/** The shape of an ONNX runner that the agent needs (exec/runner-pool.ts's RunnerPool, or exec/runner.ts's OnnxRunner). */
export interface RunnerLike {
  run(o: { modelSha256: string; inputs: WireTensor[]; outputs?: string[] }, control?: { signal?: AbortSignal; onStart?: () => void }): Promise<ExecutionResult>;
  readonly queue?: number;
}

/** Adapts an ONNX runner to the executor interface (empty `outputs` means all). */
export function runnerExecutor(runner: RunnerLike): Executor {
  return {
    ...(runner.queue ? { queue: runner.queue } : {}),
    async run(assign, o) {
      const request = { modelSha256: assign.model.sha256, inputs: assign.inputs, ...(assign.outputs.length > 0 ? { outputs: assign.outputs } : {}) };
      const r = await runner.run(request, { signal: o.signal, ...(o.onStart ? { onStart: o.onStart } : {}) });
      return { outputs: r.outputs, outputDigest: r.outputDigest, timings: { loadMs: r.timings.loadMs, runMs: r.timings.runMs } };
    },
  };
}

// ---- fault switch (tests only) -----------------------------------------------------------------

/**
 * TEST ONLY. `DOUG_AGENT_FAULT=wrong-output` makes the agent report corrupted outputs (one byte of
 * the first output tensor flipped, digest recomputed), so end-to-end tests can exercise replica
 * disagreement and tie-breaks. An agent running with it is cheating its buyers; it says so loudly.
 * It stays in the shipped agent because those tests run the real `doug-agent` process, as providers do.
 */
export type Fault = 'wrong-output';
export const FAULT_ENV = 'DOUG_AGENT_FAULT';

/** Reads the fault switch; unset or empty means none; an unknown value throws. */
export function faultFromEnv(env: Record<string, string | undefined>): Fault | null {
  const value = env[FAULT_ENV];
  if (value === undefined || value === '') return null;
  if (value === 'wrong-output') return value;
  throw new Error(`${FAULT_ENV}=${JSON.stringify(value)} is not a known fault (only "wrong-output", for tests)`);
}

/**
 * TEST ONLY. `DOUG_AGENT_STAGE_DELAY_MS=N` answers every chat stage step N ms late: a slower
 * machine's stand-in, so the router's choice among holders of different speeds can be measured.
 */
export const STAGE_DELAY_ENV = 'DOUG_AGENT_STAGE_DELAY_MS';

/** Reads the stage delay; unset or empty means none; anything but a whole number of ms up to 60,000 throws. */
export function stageDelayFromEnv(env: Record<string, string | undefined>): number {
  const value = env[STAGE_DELAY_ENV];
  if (value === undefined || value === '') return 0;
  if (!/^\d{1,5}$/.test(value) || Number(value) > 60_000) throw new Error(`${STAGE_DELAY_ENV}=${JSON.stringify(value)} is not a delay (whole milliseconds, 0 to 60000; for tests)`);
  return Number(value);
}

/** Flips the first byte of the first non-empty output tensor and recomputes the digest. */
export async function corruptOutputs(r: ExecutionResult): Promise<ExecutionResult> {
  const outputs = r.outputs.map((t) => ({ ...t, dims: [...t.dims] }));
  const target = outputs.find((t) => wireBytes(t).byteLength > 0);
  if (target) {
    const bytes = wireBytes(target);
    bytes[0] = (bytes[0] ?? 0) ^ 0xff;
    target.data = base64UrlEncode(bytes);
  }
  return { outputs, outputDigest: await tensorsDigest(outputs), timings: r.timings };
}

// ---- logging -----------------------------------------------------------------------------------

/** Where the agent's lines go: `info` for state changes and progress, `warn` for trouble. */
export interface Logger {
  info(line: string): void;
  warn(line: string): void;
}

/** Timestamped lines to a writer (stderr in the CLI); `quiet` keeps only warnings. */
export function lineLogger(o: { write: (text: string) => void; quiet?: boolean; now?: () => number }): Logger {
  const now = o.now ?? Date.now;
  const line = (level: string, text: string) => o.write(`${new Date(now()).toISOString()} ${level}${text}\n`);
  return {
    info: (text) => {
      if (!o.quiet) line('', text);
    },
    warn: (text) => line('WARN ', text),
  };
}

// ---- the agent ---------------------------------------------------------------------------------

export interface AgentOptions {
  /** Concurrent slots (the ask's capacity). */
  capacity: number;
  /** Prefetch window: assigns held unstarted beyond the free slots, 0 to MAX_PREFETCH (default 0: none). */
  prefetch?: number;
  executor: Executor;
  log: Logger;
  fault?: Fault | null;
  /** Everything the connection needs but its handlers, lease list and log, which the agent supplies. */
  connection: Omit<ConnectionOptions, 'handlers' | 'heldLeases' | 'log'>;
  /** The chat stages this agent holds (collaborative inference), served beside its jobs. */
  stages?: StageHost;
}

/** How many sent answers the agent remembers for re-sending after a reconnect. */
const SENT_MEMORY = 32;

export type AgentState = 'idle' | 'connecting' | 'working' | 'draining' | 'stopped';

interface Job {
  assign: AssignMessage;
  abort: AbortController;
  /** Running (or ran); false while it waits in the prefetch window, or in the executor's queue, for a slot. */
  started: boolean;
  /** The answer once the run ended; kept while the socket is down, until a welcome lists the lease. */
  answer: ResultMessage | AgentErrorMessage | null;
}

export interface DrainOutcome {
  /** Leases whose answers were delivered during the drain. */
  finished: number;
  /** Leases given up when the timeout struck. */
  abandoned: number;
}

export class Agent {
  readonly capacity: number;
  readonly prefetch: number;
  private readonly o: AgentOptions;
  private readonly conn: AgentConnection;
  private readonly jobs = new Map<string, Job>();
  /** Held assigns not yet started nor handed to the executor, oldest first (each also in `jobs`). */
  private readonly waiting: Job[] = [];
  /** Held assigns handed to the executor's queue, not started yet (each also in `jobs`). */
  private readonly queued = new Set<Job>();
  private stateValue: AgentState = 'idle';
  private drainPromise: Promise<DrainOutcome> | null = null;
  private idleWaiters: (() => void)[] = [];
  private delivered = 0;
  /**
   * Answers sent lately. A frame written just as the socket dies is lost without a trace; if the
   * next welcome still lists its lease, the answer goes out again (the server dedupes by lease).
   */
  private readonly sent = new Map<string, ResultMessage | AgentErrorMessage>();

  constructor(o: AgentOptions) {
    if (!Number.isSafeInteger(o.capacity) || o.capacity < 1) throw new Error(`capacity must be a whole number ≥ 1, got ${o.capacity}`);
    const prefetch = o.prefetch ?? 0;
    if (!Number.isSafeInteger(prefetch) || prefetch < 0 || prefetch > MAX_PREFETCH) throw new Error(`prefetch must be a whole number from 0 to ${MAX_PREFETCH}, got ${prefetch}`);
    this.o = o;
    this.capacity = o.capacity;
    this.prefetch = prefetch;
    this.conn = new AgentConnection({
      ...o.connection,
      log: (line) => o.log.info(line),
      heldLeases: () => this.heldLeases(),
      handlers: {
        welcome: (m) => this.onWelcome(m),
        message: (m) => this.onMessage(m),
        badAssign: (b) => this.refuse(b, 'AGENT__RUN_FAILED', `malformed assign: ${b.problem}`),
        down: (reason) => o.log.info(`offline (${reason}); holding ${this.jobs.size} lease(s)`),
      },
    });
    if (o.fault) {
      const bar = '!'.repeat(78);
      o.log.warn(bar);
      o.log.warn(`FAULT INJECTION ON (DOUG_AGENT_FAULT=${o.fault}), FOR TESTS ONLY: every result this agent reports is`);
      o.log.warn('deliberately WRONG (one output byte flipped). Never run this against a real market.');
      o.log.warn(bar);
    }
  }

  /** Where the agent stands. */
  get state(): AgentState {
    return this.stateValue;
  }

  /** Slots not running a job now, nor about to (a job in the executor's queue starts when a run ends). */
  get freeSlots(): number {
    let running = this.queued.size;
    for (const j of this.jobs.values()) if (j.started && !j.answer) running++;
    return Math.max(0, this.capacity - running);
  }

  /** Assigns held in the prefetch window, not started yet (waiting, or queued in the executor). */
  get prefetched(): number {
    return this.waiting.length + this.queued.size;
  }

  /**
   * Lease ids the agent holds with a lease running at the server: running, finished with the answer
   * not yet delivered, or waiting after an assign that came with its lease (not a prefetched one,
   * whose lease starts with `start`).
   */
  heldLeases(): string[] {
    return [...this.jobs.entries()].filter(([, j]) => j.started || !j.assign.prefetch).map(([leaseId]) => leaseId);
  }

  /** Connects and starts taking work. */
  start(): void {
    if (this.stateValue !== 'idle') return;
    this.setState('connecting');
    this.conn.start();
  }

  /** Reconnects at once with a fresh hello (after the CLI re-listed its ask); held leases resume. */
  reconnect(reason: string): void {
    this.conn.reconnect(reason);
  }

  /**
   * Stops taking work (ready 0; assigns answered AGENT__DRAINING), waits for held leases to be
   * answered, gives up on the rest after `timeoutMs`, then closes the socket.
   */
  drain(o: { timeoutMs: number }): Promise<DrainOutcome> {
    if (this.drainPromise) return this.drainPromise;
    const before = this.delivered;
    this.setState('draining');
    this.conn.send({ type: 'ready', slots: 0 });
    // Prefetched work not started goes back at once, for the server to re-match; what came with a lease is finished.
    for (const job of [...this.queued, ...this.waiting].filter((j) => j.assign.prefetch)) {
      this.drop(job);
      this.refuse(job.assign, 'AGENT__DRAINING', 'the agent is draining; prefetched work given back unstarted');
    }
    this.drainPromise = (async () => {
      const held = this.jobs.size;
      if (held > 0) this.o.log.info(`waiting up to ${o.timeoutMs} ms for ${held} lease(s) to finish`);
      const done = await this.whenIdle(o.timeoutMs);
      const abandoned = done ? 0 : this.abandonAll();
      await this.conn.close();
      this.setState('stopped');
      return { finished: this.delivered - before, abandoned };
    })();
    return this.drainPromise;
  }

  /** Stops at once: running work is abandoned, the socket closed. */
  async stop(): Promise<void> {
    if (this.stateValue === 'stopped') return;
    this.abandonAll();
    await this.conn.close();
    this.setState('stopped');
  }

  private onWelcome(m: WelcomeMessage): void {
    const listed = new Set(m.leases.map((l) => l.leaseId));
    const held = new Set(this.jobs.keys());
    for (const [leaseId, job] of [...this.jobs]) {
      const name = jobName(job.assign);
      if (!listed.has(leaseId)) {
        this.drop(job);
        this.o.log.info(`${name}: the server no longer lists ${job.started || !job.assign.prefetch ? `lease ${leaseId}` : `prefetched lease ${leaseId} (it goes back to its job)`}; dropped`);
      } else if (job.answer) {
        this.deliver(leaseId, job);
      } else {
        this.o.log.info(`${name}: lease ${leaseId} resumed`);
      }
    }
    for (const l of m.leases) {
      if (held.has(l.leaseId)) continue;
      const sent = this.sent.get(l.leaseId);
      if (sent && this.conn.send(sent)) this.o.log.info(`job ${l.jobId} replica ${l.replica}: the server still lists lease ${l.leaseId}; answer sent again`);
      else this.o.log.info(`server lists lease ${l.leaseId} (job ${l.jobId}) that this agent does not hold; ignored`);
    }
    // Answers the server no longer lists have arrived (or no longer matter).
    for (const leaseId of [...this.sent.keys()]) if (!listed.has(leaseId)) this.sent.delete(leaseId);
    if (this.stateValue === 'connecting') this.setState('working');
    this.toldBusy = false;
    this.startWaiting();
    if (this.stateValue === 'draining') this.conn.send({ type: 'ready', slots: 0 });
    else this.announce();
    this.checkIdle();
  }

  private onMessage(m: WorkMessage): void {
    switch (m.type) {
      case 'assign':
        return this.onAssign(m);
      case 'cancel':
        return this.onCancel(m);
      case 'error':
        return this.onServerError(m);
      case 'need-manifest':
      case 'stage-step':
      case 'stage-open':
      case 'stage-close':
        if (this.o.stages) this.o.stages.handle(m, (reply) => this.conn.send(reply));
        else if (m.type === 'stage-step') this.conn.send({ type: 'stage-error', id: m.id, code: 'STAGE__NOT_HELD', message: 'this agent holds no chat stages' });
        return;
    }
  }

  private onAssign(m: AssignMessage): void {
    if (this.jobs.has(m.leaseId)) {
      this.o.log.info(`${jobName(m)}: lease ${m.leaseId} assigned again; already held, ignored`);
      return;
    }
    if (this.stateValue === 'draining' || this.stateValue === 'stopped') {
      this.refuse(m, 'AGENT__DRAINING', 'the agent is draining and takes no new work');
      return;
    }
    const job: Job = { assign: m, abort: new AbortController(), started: false, answer: null };
    if (this.freeSlots > 0) {
      this.jobs.set(m.leaseId, job);
      this.begin(job);
      return;
    }
    if (this.prefetched >= this.prefetch) {
      // The server overran the slots and window announced (a ready crossed an assign in flight):
      // refuse rather than oversubscribe the machine, so the replica is re-matched elsewhere at once.
      this.refuse(m, 'AGENT__RUN_FAILED', `no free slot: all ${this.capacity} are busy${this.prefetch > 0 ? ` and ${this.prefetch} assign(s) wait` : ''}`);
      return;
    }
    this.jobs.set(m.leaseId, job);
    this.waiting.push(job);
    this.o.log.info(`${jobName(m)}: held for the next free slot (lease ${m.leaseId}), ${this.prefetched}/${this.prefetch} waiting`);
    this.handOver();
  }

  /** Runs a held job in a free slot. */
  private begin(job: Job): void {
    this.started(job);
    void this.execute(job, false);
  }

  /**
   * A job's run began: prefetched work tells the server it started (its lease starts now). A job
   * that left the executor's queue makes room there for the next waiting one.
   */
  private started(job: Job): void {
    const m = job.assign;
    const fromQueue = this.queued.delete(job);
    job.started = true;
    if (m.prefetch) this.conn.send({ type: 'start', jobId: m.jobId, leaseId: m.leaseId });
    this.o.log.info(`${jobName(m)}: started (model ${short(m.model.sha256)}, lease ${m.leaseId}), ${this.freeSlots}/${this.capacity} slot(s) free`);
    if (fromQueue) this.handOver();
  }

  /**
   * Starts waiting jobs, oldest first, while slots are free (not while draining: held leases still
   * run), then hands the executor's queue what it takes; how many started.
   */
  private startWaiting(): number {
    let n = 0;
    for (; this.waiting.length > 0 && this.freeSlots > 0 && this.stateValue !== 'stopped'; n++) this.begin(this.waiting.shift()!);
    this.handOver();
    return n;
  }

  /**
   * Hands waiting jobs to an executor that queues (Executor.queue): it starts each the moment a
   * slot's run ends, without waiting for this thread; the job counts as started when it says so.
   */
  private handOver(): void {
    const depth = this.o.executor.queue ?? 0;
    while (this.waiting.length > 0 && this.queued.size < depth && this.stateValue !== 'stopped' && this.stateValue !== 'draining') {
      const job = this.waiting.shift()!;
      this.queued.add(job);
      void this.execute(job, true);
    }
  }

  /** Forgets a job: aborted if running or queued in the executor, out of the prefetch window if waiting. */
  private drop(job: Job): void {
    job.abort.abort();
    this.jobs.delete(job.assign.leaseId);
    this.queued.delete(job);
    const i = this.waiting.indexOf(job);
    if (i >= 0) this.waiting.splice(i, 1);
  }

  private async execute(job: Job, queued: boolean): Promise<void> {
    const m = job.assign;
    let answer: ResultMessage | AgentErrorMessage;
    try {
      const onStart = queued
        ? () => {
            if (this.jobs.get(m.leaseId) === job && !job.started) this.started(job);
          }
        : undefined;
      let r = await this.o.executor.run(m, { signal: job.abort.signal, ...(onStart ? { onStart } : {}) });
      if (this.o.fault === 'wrong-output') r = await corruptOutputs(r);
      answer = { type: 'result', jobId: m.jobId, leaseId: m.leaseId, outputs: r.outputs, outputDigest: r.outputDigest, timings: r.timings };
    } catch (err) {
      const code = codeOf(err);
      const message = messageOf(err);
      // A run that failed on this work is reported as a verdict on it, with its kind (domain/job/failure.ts).
      answer = { type: 'error', jobId: m.jobId, leaseId: m.leaseId, code, message, ...(code === 'AGENT__RUN_FAILED' ? { failure: failureKindOf(message) } : {}) };
    }
    if (this.jobs.get(m.leaseId) !== job) return; // cancelled or dropped meanwhile
    // A queued run that failed before it began (the executor never said it started) still took its slot.
    if (!job.started) this.started(job);
    job.answer = answer;
    // The next held job starts before this answer goes out: the slot is never idle for a round trip.
    // One microtask's pause lets its run reach the executor (onnxruntime) before this answer is
    // serialised and sent; nothing else can happen meanwhile (messages arrive as macrotasks).
    if (this.startWaiting() > 0) {
      await null;
      if (this.jobs.get(m.leaseId) !== job) return;
    }
    if (answer.type === 'result') {
      const t = answer.timings;
      this.o.log.info(`${jobName(m)}: ran in ${Math.round(t.runMs)} ms (load ${Math.round(t.loadMs)} ms), digest ${short(answer.outputDigest)}${this.o.fault ? ' [FAULT: corrupted]' : ''}`);
    } else {
      this.o.log.warn(`${jobName(m)}: failed ${answer.code}: ${answer.message}`);
    }
    if (!this.deliver(m.leaseId, job)) this.o.log.info(`${jobName(m)}: offline; answer held until the server lists lease ${m.leaseId} again`);
    this.announce();
    this.checkIdle();
  }

  private onCancel(m: CancelMessage): void {
    const job = this.jobs.get(m.leaseId);
    if (!job || job.assign.jobId !== m.jobId) {
      this.o.log.info(`cancel for job ${m.jobId} lease ${m.leaseId}: not held; ignored`);
      return;
    }
    const queued = this.queued.has(job);
    this.drop(job);
    this.o.log.info(`${jobName(job.assign)}: cancelled by the server${m.reason ? ` (${m.reason})` : ''}`);
    if ((job.started && !job.answer) || queued) {
      this.startWaiting();
      this.announce();
    }
    this.checkIdle();
  }

  private onServerError(m: ServerErrorMessage): void {
    this.o.log.warn(`server error ${m.code}: ${m.message}${m.ref ? ` (about ${m.ref})` : ''}`);
  }

  /** Sends a held answer; true when it went out (the lease is then released). */
  private deliver(leaseId: string, job: Job): boolean {
    if (!job.answer || !this.conn.send(job.answer)) return false;
    this.jobs.delete(leaseId);
    this.delivered++;
    this.sent.set(leaseId, job.answer);
    if (this.sent.size > SENT_MEMORY) this.sent.delete(this.sent.keys().next().value!);
    return true;
  }

  /**
   * Tells the server how many slots are free now (none while work waits for one) and the prefetch
   * window, when there is one; silent while draining (ready 0 went out once).
   */
  private announce(): void {
    if (this.stateValue === 'stopped' || this.stateValue === 'draining') return;
    const slots = Math.max(0, this.freeSlots - this.waiting.length);
    // Busy and staying busy (a run ended, the next started from the window): the server's count of
    // free slots only falls from the 0 it was told, so telling it 0 again changes nothing.
    if (slots === 0 && this.toldBusy) return;
    if (this.conn.send(this.prefetch > 0 ? { type: 'ready', slots, prefetch: this.prefetch } : { type: 'ready', slots })) this.toldBusy = slots === 0 && this.prefetch > 0;
  }

  /** The last ready on this socket said no slot is free, with the window: a repeat is not needed. */
  private toldBusy = false;

  private refuse(m: { jobId: string; leaseId: string }, code: AgentErrorCode, message: string): void {
    this.o.log.info(`job ${m.jobId}: refused ${code}: ${message}`);
    this.conn.send({ type: 'error', jobId: m.jobId, leaseId: m.leaseId, code, message });
  }

  private abandonAll(): number {
    const n = this.jobs.size;
    for (const job of this.jobs.values()) job.abort.abort();
    this.jobs.clear();
    this.waiting.length = 0;
    this.queued.clear();
    if (n > 0) this.o.log.warn(`gave up ${n} lease(s); the server will re-match them when they lapse`);
    this.checkIdle();
    return n;
  }

  private whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.jobs.size === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
    });
  }

  private checkIdle(): void {
    if (this.jobs.size > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private setState(state: AgentState): void {
    if (this.stateValue === state) return;
    this.stateValue = state;
    this.o.log.info(`agent ${state}${state === 'working' ? ` (${this.capacity} slot(s))` : ''}`);
  }
}

function jobName(m: { jobId: string; replica: number }): string {
  return `job ${m.jobId} replica ${m.replica}`;
}

function short(hex: string): string {
  return hex.length > 12 ? `${hex.slice(0, 12)}…` : hex;
}

function codeOf(err: unknown): AgentErrorCode {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  if (code === 'AGENT__MODEL_TOO_LARGE') return 'AGENT__MODEL_UNAVAILABLE';
  return (REPORTED_CODES as readonly unknown[]).includes(code) && code !== 'AGENT__DRAINING' ? (code as AgentErrorCode) : 'AGENT__RUN_FAILED';
}

function messageOf(err: unknown): string {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  const text = err instanceof Error ? err.message : String(err);
  const prefix = typeof code === 'string' && !(REPORTED_CODES as readonly string[]).includes(code) && code !== 'AGENT__MODEL_TOO_LARGE' ? `${code}: ` : '';
  return (prefix + text).slice(0, 1000);
}
