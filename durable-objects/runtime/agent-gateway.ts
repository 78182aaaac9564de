import { AGENT_PROTOCOL_VERSION, fingerprintOf, helloMessage, type AgentMessage, type AssignMessage, type HelloMessage, type ManifestMessage, type ServerMessage, type StageErrorMessage, type StageOutputMessage, type StartMessage } from '../contracts/agent.ts';
import type { StageAnnouncement } from '../contracts/chat.ts';
import { parseAgentMessage } from '../contracts/agent-messages.ts';
import { decodePublicKey, delegationProblem, encodeBase58Nonce, sha256Hex, verifyText } from '../contracts/auth.ts';
import { tensorProblem, tensorsBytes, tensorsDigest, type WireTensor } from '../contracts/tensors.ts';
import { AGENT_MESSAGE_RATE, dispatchDecider, heartbeatInterval, HELLO_TIMEOUT_MS, MAX_AGENT_FRAME_BYTES, MAX_PENDING_SOCKETS, leaseHeldBy, leasesOf, openings, waitingFor, type DispatchCommand, type DispatchEvent, type DispatchState, type Work } from '../domain/dispatch/index.ts';
import { normalizeFailureMessage } from '../domain/job/failure.ts';
import type { Result } from '../domain/result.ts';
import { makeError } from '../domain/define-errors.ts';
import { DISPATCH_ERRORS } from '../domain/dispatch/index.ts';
import { take, type Bucket } from '../domain/rate.ts';
import type { Env } from './env.ts';
import { inputsKey, modelKey, resultKey } from './blob-keys.ts';

/** What the gateway remembers of a socket across hibernation; everything else is the dispatch decider's. */
interface Attachment {
  socketId: string;
  phase: 'challenged' | 'ready';
  nonce: string;
  /** When a challenged socket must have said hello (closed after: HELLO_TIMEOUT_MS). */
  helloBy?: number;
  agentKey?: string;
  provider?: string;
  fingerprint?: string;
  askId?: string;
  /** The chat stages the agent announced in hello. */
  stages?: StageAnnouncement[];
  /** Its address for direct steps, if it takes them. */
  direct?: string;
}

/** What the gateway tells the chat router (runtime/chat-router.ts) of stage-holding agents. */
export interface StageEvents {
  announced(socketId: string, stages: StageAnnouncement[]): void;
  received(socketId: string, msg: ManifestMessage): Promise<string | null>;
  answered(socketId: string, msg: StageOutputMessage | StageErrorMessage): void;
  gone(socketId: string): void;
}

/** A replica waiting for its provider's agent to announce a free slot. */
export type Dispatch = Work;

/** An agent not heard from for this many heartbeat intervals is gone. */
const SILENT_HEARTBEATS = 3;
const tagOf = (socketId: string) => `socket:${socketId}`;

/** Model sizes a gateway remembers (oldest forgotten first). */
const MODEL_SIZES_KEPT = 256;

/**
 * The market object's agent sockets (WebSocket hibernation): the signed hello, then the dispatch
 * decider (domain/dispatch) decides which socket gets which matched replica; this shell keeps the
 * sockets (tagged by socket id, found with getWebSockets(tag)), forwards heartbeats and results to
 * the job objects, and stores the decider's state in the object's SQLite (dispatch_entries). Lease expiry
 * is the job's alone (its lease events); dispatch keeps only which agent holds which lease. Work
 * arrives only once its job exists (the job's DispatchReplica, the market's ReplicaDispatched), so a
 * lease is never started with a job that has not heard of its match. Work sent into an agent's
 * prefetch window starts its lease with the job only when the agent says `start`.
 */
export class AgentGateway {
  private state: DispatchState;
  /** Whether events are folding into the state now, and the entries they touched (`section\u0000key`). */
  private folding = false;
  private readonly dirty = new Set<string>();
  private pumping = false;
  private again = false;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly env: Env,
    private readonly market: () => string,
    private readonly askOwner: (askId: string) => string | null,
    /** Asks the object to arm its alarm for `sweepAt()`. */
    private readonly armAlarm: () => void,
    /** The market's current lease length, which the heartbeat interval must undercut. */
    private readonly leaseMs: () => number,
    /** The market's side of an agent's presence: suspend its ask (withdrawn by the market after its grace period) or resume it. */
    private readonly presence: (command: 'SuspendAsk' | 'ResumeAsk', askId: string, now: number) => void = () => {},
    /** The chat router, told of stages announced, their messages and sockets gone. */
    private readonly stages: StageEvents | null = null,
  ) {
    ctx.storage.sql.exec(`
      DROP TABLE IF EXISTS dispatch_queue;
      DROP TABLE IF EXISTS agent_leases;
      DROP TABLE IF EXISTS dispatch_state;
      CREATE TABLE IF NOT EXISTS dispatch_entries (section TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (section, key));
    `);
    const stored: Record<string, Record<string, unknown>> = {};
    for (const r of ctx.storage.sql.exec<{ section: string; key: string; data: string }>('SELECT section, key, data FROM dispatch_entries')) {
      (stored[r.section] ??= {})[r.key] = JSON.parse(r.data);
    }
    this.state = this.tracked(dispatchDecider.restore(stored));
    // Sockets accepted before the object last slept still owe their hello by the time they were given.
    for (const ws of ctx.getWebSockets()) {
      const at = ws.deserializeAttachment() as Attachment | null;
      if (at?.phase === 'challenged') this.pending.set(at.socketId, at.helloBy ?? 0);
    }
  }

  /**
   * The dispatch state with each section (agents, queue, assignments, orphans) watched while events
   * fold into it: the entries an event reads or writes are the ones stored again (one row each),
   * so a command costs rows in proportion to what it touched, never to the size of the queue.
   */
  private tracked(state: DispatchState): DispatchState {
    for (const section of Object.keys(state) as (keyof DispatchState)[]) {
      const entries = state[section] as Record<string, unknown>;
      const mark = (key: string | symbol) => {
        if (this.folding && typeof key === 'string') this.dirty.add(`${section}\u0000${key}`);
      };
      (state as unknown as Record<string, unknown>)[section] = new Proxy(entries, {
        get: (t, key, r) => (mark(key), Reflect.get(t, key, r)),
        set: (t, key, v, r) => (mark(key), Reflect.set(t, key, v, r)),
        deleteProperty: (t, key) => (mark(key), Reflect.deleteProperty(t, key)),
      });
    }
    return state;
  }

  /** Stores the entries the last events touched: present ones anew, gone ones deleted. */
  private storeTouched(): void {
    for (const d of this.dirty) {
      const [section, key] = d.split('\u0000') as [keyof DispatchState, string];
      const value = (this.state[section] as Record<string, unknown>)[key];
      if (value === undefined) this.ctx.storage.sql.exec('DELETE FROM dispatch_entries WHERE section = ? AND key = ?', section, key);
      else this.ctx.storage.sql.exec('INSERT OR REPLACE INTO dispatch_entries (section, key, data) VALUES (?, ?, ?)', section, key, JSON.stringify(value));
    }
    this.dirty.clear();
  }

  /** Challenged sockets by id, with when each must have said hello (rebuilt from attachments by the sweep). */
  private readonly pending = new Map<string, number>();
  /** Each socket's message budget (AGENT_MESSAGE_RATE), and when it was last told it ran out. */
  private readonly budgets = new Map<string, Bucket & { toldAt: number | undefined }>();

  /**
   * Accepts an agent's WebSocket, tagged with a fresh socket id, and sends it a challenge; refused
   * with a 429 while MAX_PENDING_SOCKETS others still owe their hello.
   */
  accept(now = Date.now()): Response {
    if (this.pending.size >= MAX_PENDING_SOCKETS) this.closeUnanswered(now);
    if (this.pending.size >= MAX_PENDING_SOCKETS) {
      const error = agentError('AGENT__TOO_MANY_PENDING', { count: this.pending.size });
      return new Response(JSON.stringify({ error: { code: error.code, message: error.message, context: error.context } }), { status: 429, headers: { 'content-type': 'application/json; charset=utf-8', 'retry-after': String(Math.ceil(HELLO_TIMEOUT_MS / 1000)) } });
    }
    const pair = new WebSocketPair();
    const server = pair[1];
    const socketId = encodeBase58Nonce();
    this.ctx.acceptWebSocket(server, [tagOf(socketId)]);
    const nonce = encodeBase58Nonce();
    const helloBy = now + HELLO_TIMEOUT_MS;
    server.serializeAttachment({ socketId, phase: 'challenged', nonce, helloBy } satisfies Attachment);
    this.pending.set(socketId, helloBy);
    this.armAlarm();
    send(server, { type: 'challenge', nonce });
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  /** Closes every socket that owes its hello past its time (each told why). */
  private closeUnanswered(now: number): void {
    this.pending.clear();
    for (const ws of this.ctx.getWebSockets()) {
      const at = ws.deserializeAttachment() as Attachment | null;
      if (!at || at.phase !== 'challenged') continue;
      const helloBy = at.helloBy ?? 0;
      if (helloBy > now) {
        this.pending.set(at.socketId, helloBy);
        continue;
      }
      const error = agentError('AGENT__HELLO_TIMEOUT', { ms: HELLO_TIMEOUT_MS });
      refuse(ws, error.code, error.message, 'hello');
      try {
        ws.close(1008, 'no hello');
      } catch {
        // already closed
      }
    }
  }

  /** Handles one message from an agent. Bad input is answered with an error and changes nothing. */
  async message(ws: WebSocket, raw: string | ArrayBuffer): Promise<void> {
    const bytes = typeof raw === 'string' ? raw.length : raw.byteLength;
    if (bytes > MAX_AGENT_FRAME_BYTES) {
      const error = agentError('AGENT__FRAME_TOO_LARGE', { bytes, limit: MAX_AGENT_FRAME_BYTES });
      refuse(ws, error.code, error.message);
      try {
        ws.close(1009, 'frame too large');
      } catch {
        // already closed
      }
      this.closed(ws);
      return;
    }
    const at = ws.deserializeAttachment() as Attachment;
    if (!this.withinRate(ws, at.socketId)) return;
    const text = typeof raw === 'string' ? raw : new TextDecoder().decode(raw);
    const parsed = parseAgentMessage(text);
    if (!parsed.ok) return refuse(ws, parsed.code, parsed.message, parsed.ref);
    const msg = parsed.message;
    if (msg.type === 'hello') return this.hello(ws, at, msg);
    if (at.phase !== 'ready' || !this.state.agents[at.socketId]) return refuse(ws, 'AGENT__NOT_AUTHENTICATED', 'send hello first', msg.type);
    switch (msg.type) {
      case 'ready': {
        const r = this.decide({ type: 'AnnounceReady', socketId: at.socketId, slots: msg.slots, ...(msg.prefetch !== undefined ? { prefetch: msg.prefetch } : {}) });
        if (!r.ok) return refuse(ws, r.error.code, r.error.message, 'ready');
        return this.pump();
      }
      case 'start':
        return this.start(ws, at, msg);
      case 'heartbeat':
        return this.heartbeat(ws, at, msg.leases);
      case 'result':
        return this.result(ws, at, msg);
      case 'error':
        return this.agentError(at, msg);
      case 'manifest': {
        const problem = this.stages ? await this.stages.received(at.socketId, msg) : 'this market serves no chat stages';
        if (problem) refuse(ws, 'AGENT__MALFORMED_MESSAGE', problem, 'manifest');
        return;
      }
      case 'stage-output':
      case 'stage-error':
        this.stages?.answered(at.socketId, msg);
        return;
    }
  }

  /** Connected agents that hold chat stages (from their sockets' hello, so a hibernated object still knows them). */
  stageHolders(): { socketId: string; agentKey: string; provider: string; askId: string; fingerprint: string; stages: StageAnnouncement[]; direct?: string }[] {
    const out = [];
    for (const ws of this.ctx.getWebSockets()) {
      const at = ws.deserializeAttachment() as Attachment | null;
      if (!at || at.phase !== 'ready' || !at.stages?.length || !this.state.agents[at.socketId] || ws.readyState !== WebSocket.OPEN) continue;
      out.push({ socketId: at.socketId, agentKey: at.agentKey!, provider: at.provider!, askId: at.askId!, fingerprint: at.fingerprint!, stages: at.stages, ...(at.direct ? { direct: at.direct } : {}) });
    }
    return out;
  }

  /** Sends to one agent's socket; false when it is gone. */
  sendTo(socketId: string, message: ServerMessage): boolean {
    const ws = this.socket(socketId);
    if (!ws) return false;
    try {
      ws.send(JSON.stringify(message));
      return true;
    } catch {
      return false;
    }
  }

  /** The agent could not run a lease; prefetched work it gives back unstarted (a draining agent) is no failure: its job re-matches it now. */
  private async agentError(at: Attachment, msg: Extract<AgentMessage, { type: 'error' }>): Promise<void> {
    const lease = leaseHeldBy(this.state, msg.leaseId, at.agentKey!);
    const r = this.decide({ type: 'ReportError', socketId: at.socketId, leaseId: msg.leaseId });
    const unstarted = r.ok ? r.value.flatMap((e) => (e.type === 'LeaseClosed' && e.unstarted ? [e.unstarted] : [])) : [];
    if (unstarted.length > 0) {
      for (const w of unstarted) this.abandonAssignment(w, Date.now());
      return;
    }
    if (lease && msg.code === 'AGENT__RUN_FAILED' && msg.failure) {
      // A run that failed on this work: the job verifies the report like a result (domain/job/failure.ts).
      // The digest is taken here, from the words as the job keeps them, so agents cannot choose it.
      const message = normalizeFailureMessage(msg.message);
      const failure = { kind: msg.failure, digest: await sha256Hex(new TextEncoder().encode(message)), message };
      const now = Date.now();
      const reported = await this.job(lease.jobId).execute(lease.jobId, { type: 'ReportFailure', leaseId: msg.leaseId, failure }, { commandId: `failure:${msg.leaseId}`, actor: at.provider!, now });
      if (reported.ok) return;
    }
    console.warn(`agent ${at.agentKey} could not run ${msg.jobId} (${msg.code}): ${msg.message.slice(0, 200)}`);
  }

  private async hello(ws: WebSocket, at: Attachment, msg: HelloMessage): Promise<void> {
    if (at.phase !== 'challenged') return refuse(ws, 'AGENT__MALFORMED_MESSAGE', 'hello was already accepted', 'hello');
    if (msg.v !== AGENT_PROTOCOL_VERSION) return refuse(ws, 'AGENT__VERSION_UNSUPPORTED', `this server speaks version ${AGENT_PROTOCOL_VERSION}`, 'hello');
    if (!decodePublicKey(msg.agentKey)) return refuse(ws, 'AUTH__KEY_INVALID', 'agentKey must be a base58 public key', 'hello');
    if (!(await verifyText(msg.agentKey, msg.signature, helloMessage({ market: this.market(), nonce: at.nonce, agentKey: msg.agentKey })))) {
      return refuse(ws, 'AUTH__SIGNATURE_INVALID', 'the hello signature does not verify', 'hello');
    }
    let provider = msg.agentKey;
    const d = msg.delegation;
    if (d) {
      const valid = d.scopes.includes('work') && (await delegationProblem(d, { delegate: msg.agentKey, now: Date.now() })) === null;
      if (!valid) return refuse(ws, 'AUTH__DELEGATION_INVALID', 'the delegation must be signed by the wallet, name this agent key, cover "work" and be unexpired', 'hello');
      provider = d.wallet;
    }
    if (this.askOwner(msg.askId) !== provider) return refuse(ws, 'AGENT__ASK_NOT_OWNED', `ask ${msg.askId.slice(0, 80)} is not an open ask of ${provider}`, 'hello');
    const fingerprint = fingerprintOf(msg.runtime);
    const stages = msg.stages ?? [];
    ws.serializeAttachment({ socketId: at.socketId, phase: 'ready', nonce: at.nonce, agentKey: msg.agentKey, provider, fingerprint, askId: msg.askId, ...(stages.length ? { stages } : {}), ...(stages.length && msg.direct ? { direct: msg.direct } : {}) } satisfies Attachment);
    this.pending.delete(at.socketId);
    this.decide({ type: 'AcceptAgent', socketId: at.socketId, askId: msg.askId, agentKey: msg.agentKey, provider, fingerprint });
    this.presence('ResumeAsk', msg.askId, Date.now());
    this.armAlarm(); // the alarm notices the agent falling silent
    // The leases this key held before it reconnected, each renewed by its job (the one record of its expiry).
    const now = Date.now();
    const leases: { jobId: string; replica: number; leaseId: string; expiresAt: number }[] = [];
    // Prefetched work not yet started has no lease to resume: it goes back to its job when its old socket leaves.
    for (const l of leasesOf(this.state, msg.agentKey).filter((l) => !l.waiting)) {
      const expiresAt = await this.renew(l.jobId, l.leaseId, l.askId, provider, now);
      if (expiresAt !== null) leases.push({ jobId: l.jobId, replica: l.replica, leaseId: l.leaseId, expiresAt });
    }
    send(ws, { type: 'welcome', leases, heartbeatMs: heartbeatInterval(this.leaseMs()) });
    if (stages.length) this.stages?.announced(at.socketId, stages);
  }

  /**
   * The agent started prefetched work: the window has room again (pump at once), and the lease starts
   * with its job. A job that refuses (the replica's start-by time passed, or it moved) gets the work
   * cancelled at the agent. Heartbeats and the result for the lease wait for the start to land.
   */
  private async start(ws: WebSocket, at: Attachment, msg: StartMessage): Promise<void> {
    const r = this.decide({ type: 'StartWork', socketId: at.socketId, leaseId: msg.leaseId });
    if (!r.ok) return refuse(ws, r.error.code, r.error.message, 'start');
    const started = r.value.find((e) => e.type === 'WorkStarted');
    if (!started) return;
    const { leaseId, jobId, replica, provider } = started;
    const landing = (async () => {
      const now = Date.now();
      const r = (await this.job(jobId).execute(jobId, { type: 'StartLease', replica, leaseId, agentKey: at.agentKey! }, { commandId: `start:${leaseId}`, actor: provider, now })) as Result<unknown>;
      if (r.ok) return;
      this.decide({ type: 'ReturnAssignment', leaseId });
      console.warn(`prefetched ${jobId}#${replica} refused by the job at its start: ${r.error.code}`);
      send(ws, { type: 'cancel', jobId, leaseId, reason: 'the job refused to start this lease' });
    })().finally(() => this.starting.delete(leaseId));
    this.starting.set(leaseId, landing);
    await Promise.all([this.pump(), landing]);
  }

  /** Leases whose start with their job is under way (prefetched work the agent just started). */
  private readonly starting = new Map<string, Promise<void>>();

  /** Model sizes by SHA-256 (content-addressed, so a size never changes); a market serves few models. */
  private readonly modelSizes = new Map<string, number>();

  /** A model's size in bytes (0 when it is not stored), read from R2 once per model. */
  private async modelBytes(sha256: string): Promise<number> {
    const known = this.modelSizes.get(sha256);
    if (known !== undefined) return known;
    const size = (await this.env.BLOBS.head(modelKey(sha256)))?.size;
    if (size === undefined) return 0;
    if (this.modelSizes.size >= MODEL_SIZES_KEPT) this.modelSizes.delete(this.modelSizes.keys().next().value!);
    this.modelSizes.set(sha256, size);
    return size;
  }

  private async heartbeat(ws: WebSocket, at: Attachment, leases: string[]): Promise<void> {
    this.decide({ type: 'RecordHeartbeat', socketId: at.socketId, leases });
    const now = Date.now();
    for (const leaseId of leases) {
      await this.starting.get(leaseId);
      const lease = leaseHeldBy(this.state, leaseId, at.agentKey!);
      if (!lease || lease.waiting) continue;
      if ((await this.renew(lease.jobId, leaseId, lease.askId, at.provider!, now)) === null) send(ws, { type: 'cancel', jobId: lease.jobId, leaseId, reason: 'the job ended this lease' });
    }
  }

  /** Renews a lease with its job: the new expiry, or null (and the lease closed here) when the job refuses. */
  private async renew(jobId: string, leaseId: string, askId: string, provider: string, now: number): Promise<number | null> {
    const r = (await this.job(jobId).execute(jobId, { type: 'Heartbeat', leaseId }, { commandId: `heartbeat:${leaseId}:${now}`, actor: provider, now })) as Result<{
      events: { type: string; expiresAt?: number }[];
    }>;
    if (r.ok) return r.value.events.find((e) => e.type === 'LeaseRenewed')?.expiresAt ?? now;
    this.decide({ type: 'EndLeases', jobId, askId, reason: r.error.code });
    return null;
  }

  private async result(ws: WebSocket, at: Attachment, msg: Extract<AgentMessage, { type: 'result' }>): Promise<void> {
    for (const t of msg.outputs) {
      const problem = tensorProblem(t);
      if (problem) return refuse(ws, 'AGENT__RESULT_INVALID', `output ${t.name.slice(0, 40)}: ${problem}`, 'result');
    }
    const bytes = tensorsBytes(msg.outputs);
    await this.starting.get(msg.leaseId);
    const lease = leaseHeldBy(this.state, msg.leaseId, at.agentKey!);
    const check = dispatchDecider.decide(this.state, { type: 'AcceptResult', socketId: at.socketId, jobId: msg.jobId, leaseId: msg.leaseId, bytes }, this.meta(Date.now()));
    if (!check.ok || !lease) return refuse(ws, check.ok ? 'AGENT__LEASE_UNKNOWN' : check.error.code, check.ok ? 'lease unknown' : check.error.message, 'result');
    const digest = await tensorsDigest(msg.outputs);
    if (digest !== msg.outputDigest) return refuse(ws, 'AGENT__DIGEST_MISMATCH', 'outputDigest is not the digest of outputs', 'result');
    await this.env.BLOBS.put(resultKey(lease.jobId, lease.replica), JSON.stringify(msg.outputs satisfies WireTensor[]));
    const now = Date.now();
    const r = (await this.job(lease.jobId).submitResult(
      lease.jobId,
      { replica: lease.replica, leaseId: msg.leaseId, outputDigest: digest, outputBytes: bytes, fingerprint: at.fingerprint! },
      { commandId: `result:${msg.leaseId}`, actor: at.provider!, now },
    )) as Result<unknown>;
    this.decide({ type: 'AcceptResult', socketId: at.socketId, jobId: msg.jobId, leaseId: msg.leaseId, bytes });
    if (!r.ok) refuse(ws, r.error.code, r.error.message, 'result');
  }

  /** Queues replicas whose jobs exist and hands them to agents with free slots. */
  dispatch(dispatches: Dispatch[]): Promise<void> {
    this.decide({ type: 'QueueWork', work: dispatches });
    return this.pump();
  }

  /** Whether an agent with an announced free slot (or prefetch room) serves one of these asks. */
  waitingFor(askIds: string[]): boolean {
    return waitingFor(this.state, askIds);
  }

  /** A slot went back to its ask: the job no longer wants that replica there; tell the agent. */
  released(askId: string, jobId: string): void {
    const r = this.decide({ type: 'EndLeases', jobId, askId, reason: 'released' });
    if (!r.ok) return;
    for (const e of r.value) {
      if (e.type !== 'LeaseClosed') continue;
      const held = this.closedLeases.get(e.leaseId);
      const ws = held && this.socket(held);
      if (ws) send(ws, { type: 'cancel', jobId, leaseId: e.leaseId, reason: 'the job released this slot' });
    }
  }

  /** The socket each lease closed by the last decision was held on (its record is gone from the state). */
  private closedLeases = new Map<string, string>();

  /**
   * Assigns queued replicas to agents with announced free slots (the decider picks, oldest first).
   * One pump runs at a time; a request made while it runs makes it go round again.
   */
  async pump(): Promise<void> {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        await this.pumpOnce();
      } while (this.again);
    } finally {
      this.pumping = false;
    }
  }

  private async pumpOnce(): Promise<void> {
    let free = 0;
    for (const o of openings(this.state).values()) free += o.slots + o.room;
    const queued = Object.keys(this.state.queue).length;
    if (free === 0 || queued === 0) return;
    const leaseIds = Array.from({ length: Math.min(free, queued, 256) }, () => `lease_${encodeBase58Nonce()}`);
    const r = this.decide({ type: 'AssignWork', leaseIds });
    if (!r.ok) return;
    await Promise.all(r.value.flatMap((e) => (e.type === 'WorkAssigned' ? [this.assign(e)] : [])));
  }

  /**
   * Starts the assignment's lease with its job (which exists: it asked for the dispatch) and sends the
   * agent its work. Prefetched work is sent without a lease: the agent starts it later (`start`), and
   * until then its expiresAt is a lease's length from now, no earlier than its replica's start-by time.
   */
  private async assign(e: Extract<DispatchEvent, { type: 'WorkAssigned' }>): Promise<void> {
    const job = this.job(e.jobId);
    const now = Date.now();
    const noLease: Result<{ events: { type: string; expiresAt?: number }[] }> = { ok: true, value: { events: [{ type: 'LeaseGranted', expiresAt: now + this.leaseMs() }] } };
    const [work, started] = (await Promise.all([
      job.workOrder(),
      e.prefetched
        ? noLease
        : job.execute(e.jobId, { type: 'StartLease', replica: e.replica, leaseId: e.leaseId, agentKey: e.agentKey }, { commandId: `start:${e.leaseId}`, actor: e.provider, now }),
    ])) as [{ spec: { modelSha256: string; inputSha256: string }; units: number } | null, Result<{ events: { type: string; expiresAt?: number }[] }>];
    if (!started.ok || !work) {
      // The replica lapsed, moved or ended meanwhile: the job re-matches it or is done with it.
      this.decide({ type: 'ReturnAssignment', leaseId: e.leaseId });
      console.warn(`dispatch of ${e.jobId}#${e.replica} refused by the job: ${started.ok ? 'no job' : started.error.code}`);
      return;
    }
    const expiresAt = started.value.events.find((ev) => ev.type === 'LeaseGranted')?.expiresAt ?? now;
    const [inputs, modelBytes] = await Promise.all([this.env.BLOBS.get(inputsKey(work.spec.inputSha256)), this.modelBytes(work.spec.modelSha256)]);
    const assign: AssignMessage = {
      type: 'assign',
      jobId: e.jobId,
      replica: e.replica,
      leaseId: e.leaseId,
      expiresAt,
      model: { sha256: work.spec.modelSha256, bytes: modelBytes, url: `/v1/models/${work.spec.modelSha256}` },
      inputs: inputs ? ((await inputs.json()) as WireTensor[]) : [],
      outputs: [],
      ...(e.prefetched ? { prefetch: true as const } : {}),
    };
    const ws = this.socket(e.socketId);
    if (ws) send(ws, assign);
  }

  /**
   * Whether a message from `ws` is within its agent's rate (AGENT_MESSAGE_RATE); one past it is
   * dropped, and the agent told so at most once a second.
   */
  private withinRate(ws: WebSocket, id: string, now = Date.now()): boolean {
    const before = this.budgets.get(id);
    const { allowed, bucket } = take(before, AGENT_MESSAGE_RATE, now);
    const tell = !allowed && (before?.toldAt === undefined || now - before.toldAt >= 1000);
    this.budgets.set(id, { ...bucket, toldAt: tell ? now : before?.toldAt });
    if (tell) {
      const error = agentError('AGENT__RATE_LIMITED', { perSecond: AGENT_MESSAGE_RATE.perSecond, burst: AGENT_MESSAGE_RATE.burst });
      refuse(ws, error.code, error.message);
    }
    return allowed;
  }


  /** A socket closed: its agent leaves the decider's state (acknowledged leases stay until they lapse or the agent returns). */
  closed(ws: WebSocket): void {
    const at = ws.deserializeAttachment() as Attachment | null;
    if (at) {
      this.pending.delete(at.socketId);
      this.budgets.delete(at.socketId);
    }
    if (at) this.leave({ type: 'CloseSocket', socketId: at.socketId });
    if (at) this.stages?.gone(at.socketId);
    try {
      ws.close(1000, 'bye');
    } catch {
      // already closed
    }
  }

  /** When the alarm should next run `sweep`: when the first agent would fall silent, or a challenged socket owes its hello. */
  sweepAt(): number | null {
    const silence = this.silenceMs();
    const times = Object.values(this.state.agents).map((a) => a.seenAt + silence + 1);
    for (const helloBy of this.pending.values()) times.push(helloBy);
    return times.length === 0 ? null : Math.min(...times);
  }

  /** The alarm's work (at `now`): agents silent too long (or whose socket is gone) leave; sockets that never said hello are closed. */
  async sweep(now = Date.now()): Promise<void> {
    this.closeUnanswered(now);
    for (const socketId of Object.keys(this.state.agents)) if (!this.socket(socketId)) this.leave({ type: 'CloseSocket', socketId, lost: true }, now);
    this.leave({ type: 'CheckSilence', silenceMs: this.silenceMs() }, now);
  }

  private silenceMs(): number {
    return SILENT_HEARTBEATS * heartbeatInterval(this.leaseMs());
  }

  /**
   * Agents leaving: the ask of the last one is suspended at once, and each assignment it had not yet
   * acknowledged (and the prefetched work it held unstarted, and the work still queued for an
   * orphaned ask) is abandoned with its job, which re-matches it now rather than when the lease or
   * the start-by time lapses.
   */
  private leave(command: Extract<DispatchCommand, { type: 'CloseSocket' | 'CheckSilence' }>, now = Date.now()): void {
    const r = this.decide(command, now);
    if (!r.ok) return;
    for (const e of r.value) {
      if (e.type !== 'AgentLeft') continue;
      if (e.askOrphaned) this.presence('SuspendAsk', e.askId, now);
      for (const u of e.unacknowledged) {
        this.ctx.waitUntil(this.job(u.jobId).execute(u.jobId, { type: 'AbandonLease', leaseId: u.leaseId }, { commandId: `abandon:${u.leaseId}`, actor: u.provider, now }));
      }
      for (const w of [...e.unassigned, ...(e.prefetched ?? [])]) this.abandonAssignment(w, now);
      this.stages?.gone(e.socketId);
      const ws = this.socket(e.socketId);
      if (ws && e.reason === 'silent') {
        try {
          ws.close(1001, 'no heartbeat');
        } catch {
          // already closed
        }
      }
    }
  }

  /** Work that never reached a lease goes back to its job, which lapses the replica's assignment and re-matches it now. */
  private abandonAssignment(w: Work, now: number): void {
    const command = { type: 'AbandonAssignment', replica: w.replica, askId: w.askId } as const;
    this.ctx.waitUntil(this.job(w.jobId).execute(w.jobId, command, { commandId: `abandon:${w.jobId}#${w.replica}@${w.askId}`, actor: w.provider, now }));
  }

  /** Decides a command against the dispatch state; on success folds and stores its events. */
  private decide(command: DispatchCommand, now = Date.now()): Result<DispatchEvent[]> {
    const r = dispatchDecider.decide(this.state, command, this.meta(now));
    if (!r.ok || r.value.length === 0) return r;
    this.closedLeases.clear();
    for (const e of r.value) {
      if (e.type === 'LeaseClosed') {
        const held = this.state.assignments[e.leaseId];
        if (held) this.closedLeases.set(e.leaseId, held.socketId);
      }
      this.folding = true;
      try {
        dispatchDecider.evolve(this.state, e, this.meta(0));
      } finally {
        this.folding = false;
      }
    }
    this.storeTouched();
    return r;
  }

  private meta(now: number) {
    return { commandId: 'dispatch', actor: 'system:dispatch', now };
  }

  private socket(socketId: string): WebSocket | undefined {
    return this.ctx.getWebSockets(tagOf(socketId))[0];
  }

  private job(jobId: string) {
    return this.env.JOBS.get(this.env.JOBS.idFromName(jobId));
  }
}

function send(ws: WebSocket, message: ServerMessage): void {
  try {
    ws.send(JSON.stringify(message));
  } catch {
    // The socket closed under us; its agent will reconnect and resume.
  }
}

/** A refusal of the agent protocol (AGENT__), in its words. */
const agentError = (code: keyof typeof DISPATCH_ERRORS & string, context: Record<string, unknown>) => makeError(DISPATCH_ERRORS, code, context);

function refuse(ws: WebSocket, code: string, message: string, ref?: string): void {
  send(ws, { type: 'error', code, message, ...(ref ? { ref } : {}) });
}
