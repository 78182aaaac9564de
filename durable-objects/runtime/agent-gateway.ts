import {
  AGENT_PROTOCOL_VERSION,
  fingerprintOf,
  helloMessage,
  type AgentMessage,
  type AssignMessage,
  type HelloMessage,
  type ServerMessage,
} from '../contracts/agent.ts';
import { parseAgentMessage } from '../contracts/agent-messages.ts';
import { decodePublicKey, delegationProblem, encodeBase58Nonce, verifyText } from '../contracts/auth.ts';
import { tensorProblem, tensorsBytes, tensorsDigest, type WireTensor } from '../contracts/tensors.ts';
import type { Result } from '../domain/result.ts';
import type { Env } from './env.ts';
import { resultKey } from './job-object.ts';

/** What the gateway remembers of a socket across hibernation. */
interface Attachment {
  phase: 'challenged' | 'ready';
  nonce: string;
  agentKey?: string;
  provider?: string;
  askId?: string;
  fingerprint?: string;
  /** Slots the agent announced and the gateway has not yet filled. */
  free: number;
}

/** A replica waiting for its provider's agent to announce a free slot. */
export interface Dispatch {
  jobId: string;
  replica: number;
  askId: string;
  provider: string;
}

/** Heartbeats go at most this far apart, and at least three times per lease. */
export const HEARTBEAT_MS = 5_000;
/** Largest result an agent may send (all output tensors together). */
export const MAX_RESULT_BYTES = 8 * 1024 * 1024;
const RETRY_MS = 50;
/**
 * How long a replica may wait here. Past it the job's own deadline (the lease's start-by time)
 * has lapsed anyway and the job re-matches or refunds.
 */
const MAX_QUEUE_AGE_MS = 60_000;
/** Rejections that mean "the job has not heard of this match yet": its outbox message is on the way. */
const NOT_YET = new Set(['JOB__NOT_FOUND', 'JOB__NOT_REPLICA_PROVIDER']);

/**
 * The market object's agent sockets (WebSocket hibernation): the signed hello, pull-based dispatch
 * of matched replicas against announced slots, heartbeats and results forwarded to job objects.
 * Dispatch state that must survive eviction (the queue, the leases each agent holds) lives in the
 * object's SQLite beside the event log; none of it is market history, so none of it is an event.
 */
export class AgentGateway {
  private pumping = false;
  private again = false;
  /** When queued work should be tried again (a job had not yet heard of its match); null when not needed. */
  retryAt: number | null = null;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly env: Env,
    private readonly market: () => string,
    private readonly askOwner: (askId: string) => string | null,
    /** Asks the object to arm its alarm for `retryAt`. */
    private readonly onRetry: () => void,
    /** The market's current lease length, which the heartbeat interval must undercut. */
    private readonly leaseMs: () => number,
  ) {
    ctx.storage.sql.exec(`
      CREATE TABLE IF NOT EXISTS dispatch_queue (job_id TEXT NOT NULL, replica INTEGER NOT NULL, ask_id TEXT NOT NULL,
        provider TEXT NOT NULL, queued_at INTEGER NOT NULL, PRIMARY KEY (job_id, replica));
      CREATE INDEX IF NOT EXISTS dispatch_queue_ask ON dispatch_queue (ask_id, queued_at);
      CREATE INDEX IF NOT EXISTS dispatch_queue_age ON dispatch_queue (queued_at);
      CREATE TABLE IF NOT EXISTS agent_leases (lease_id TEXT PRIMARY KEY, job_id TEXT NOT NULL, replica INTEGER NOT NULL,
        ask_id TEXT NOT NULL, agent_key TEXT NOT NULL, provider TEXT NOT NULL, expires_at INTEGER NOT NULL);
    `);
  }

  /** Accepts an agent's WebSocket and sends it a challenge. */
  accept(): Response {
    const pair = new WebSocketPair();
    const server = pair[1];
    this.ctx.acceptWebSocket(server);
    const nonce = encodeBase58Nonce();
    server.serializeAttachment({ phase: 'challenged', nonce, free: 0 } satisfies Attachment);
    send(server, { type: 'challenge', nonce });
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  /** Handles one message from an agent. Bad input is answered with an error and changes nothing. */
  async message(ws: WebSocket, raw: string | ArrayBuffer): Promise<void> {
    const text = typeof raw === 'string' ? raw : new TextDecoder().decode(raw);
    const parsed = parseAgentMessage(text);
    if (!parsed.ok) return refuse(ws, parsed.code, parsed.message, parsed.ref);
    const msg = parsed.message;
    const at = ws.deserializeAttachment() as Attachment;
    if (msg.type === 'hello') return this.hello(ws, at, msg);
    if (at.phase !== 'ready') return refuse(ws, 'AGENT__NOT_AUTHENTICATED', 'send hello first', msg.type);
    switch (msg.type) {
      case 'ready':
        if (!Number.isSafeInteger(msg.slots) || msg.slots < 0 || msg.slots > 1024) return refuse(ws, 'AGENT__MALFORMED_MESSAGE', 'slots must be an integer from 0 to 1024', 'ready');
        ws.serializeAttachment({ ...at, free: msg.slots });
        return this.pump();
      case 'heartbeat':
        return this.heartbeat(ws, at, msg.leases);
      case 'result':
        return this.result(ws, at, msg);
      case 'error':
        console.warn(`agent ${at.agentKey} could not run ${String(msg.jobId)} (${String(msg.code)}): ${String(msg.message).slice(0, 200)}`);
        this.ctx.storage.sql.exec('DELETE FROM agent_leases WHERE lease_id = ? AND agent_key = ?', String(msg.leaseId), at.agentKey!);
        return;
      default:
        return refuse(ws, 'AGENT__MALFORMED_MESSAGE', `unknown message type ${String((msg as { type: unknown }).type).slice(0, 40)}`);
    }
  }

  private async hello(ws: WebSocket, at: Attachment, msg: HelloMessage): Promise<void> {
    if (at.phase !== 'challenged') return refuse(ws, 'AGENT__MALFORMED_MESSAGE', 'hello was already accepted', 'hello');
    if (msg.v !== AGENT_PROTOCOL_VERSION) return refuse(ws, 'AGENT__VERSION_UNSUPPORTED', `this server speaks version ${AGENT_PROTOCOL_VERSION}`, 'hello');
    if (typeof msg.agentKey !== 'string' || !decodePublicKey(msg.agentKey) || typeof msg.signature !== 'string') return refuse(ws, 'AUTH__KEY_INVALID', 'agentKey must be a base58 public key', 'hello');
    if (!(await verifyText(msg.agentKey, msg.signature, helloMessage({ market: this.market(), nonce: at.nonce, agentKey: msg.agentKey })))) {
      return refuse(ws, 'AUTH__SIGNATURE_INVALID', 'the hello signature does not verify', 'hello');
    }
    let provider = msg.agentKey;
    const d = msg.delegation;
    if (d) {
      const valid =
        typeof d.wallet === 'string' &&
        typeof d.expiresAt === 'number' &&
        Array.isArray(d.scopes) &&
        d.scopes.includes('work') &&
        (await delegationProblem(d, { delegate: msg.agentKey, now: Date.now() })) === null;
      if (!valid) return refuse(ws, 'AUTH__DELEGATION_INVALID', 'the delegation must be signed by the wallet, name this agent key, cover "work" and be unexpired', 'hello');
      provider = d.wallet;
    }
    if (typeof msg.askId !== 'string' || this.askOwner(msg.askId) !== provider) return refuse(ws, 'AGENT__ASK_NOT_OWNED', `ask ${String(msg.askId).slice(0, 80)} is not an open ask of ${provider}`, 'hello');
    const runtime = msg.runtime;
    if (!runtime || typeof runtime.onnxruntime !== 'string' || !Array.isArray(runtime.cpuFeatures)) return refuse(ws, 'AGENT__MALFORMED_MESSAGE', 'runtime fingerprint missing', 'hello');
    ws.serializeAttachment({ phase: 'ready', nonce: at.nonce, agentKey: msg.agentKey, provider, askId: msg.askId, fingerprint: fingerprintOf(runtime), free: 0 } satisfies Attachment);
    const leases = this.ctx.storage.sql
      .exec<{ lease_id: string; job_id: string; replica: number; expires_at: number }>('SELECT lease_id, job_id, replica, expires_at FROM agent_leases WHERE agent_key = ?', msg.agentKey)
      .toArray()
      .map((l) => ({ jobId: l.job_id, replica: l.replica, leaseId: l.lease_id, expiresAt: l.expires_at }));
    send(ws, { type: 'welcome', leases, heartbeatMs: Math.max(100, Math.min(HEARTBEAT_MS, Math.floor(this.leaseMs() / 3))) });
  }

  private async heartbeat(ws: WebSocket, at: Attachment, leases: unknown): Promise<void> {
    if (!Array.isArray(leases) || leases.length > 1024) return refuse(ws, 'AGENT__MALFORMED_MESSAGE', 'leases must be an array', 'heartbeat');
    const now = Date.now();
    for (const leaseId of leases) {
      const lease = this.lease(String(leaseId), at.agentKey!);
      if (!lease) continue;
      const r = (await this.job(lease.job_id).execute(lease.job_id, { type: 'Heartbeat', leaseId: lease.lease_id }, { commandId: `heartbeat:${lease.lease_id}:${now}`, actor: at.provider!, now })) as Result<{
        events: { type: string; expiresAt?: number }[];
      }>;
      if (r.ok) {
        const renewed = r.value.events.find((e) => e.type === 'LeaseRenewed');
        if (renewed?.expiresAt) this.ctx.storage.sql.exec('UPDATE agent_leases SET expires_at = ? WHERE lease_id = ?', renewed.expiresAt, lease.lease_id);
      } else {
        this.dropLease(ws, lease.lease_id, lease.job_id, r.error.code);
      }
    }
  }

  private async result(ws: WebSocket, at: Attachment, msg: Extract<AgentMessage, { type: 'result' }>): Promise<void> {
    const lease = this.lease(String(msg.leaseId), at.agentKey!);
    if (!lease || lease.job_id !== msg.jobId) return refuse(ws, 'AGENT__LEASE_UNKNOWN', `lease ${String(msg.leaseId).slice(0, 80)} is not held by this agent`, 'result');
    if (!Array.isArray(msg.outputs) || msg.outputs.length === 0 || msg.outputs.length > 64) return refuse(ws, 'AGENT__RESULT_INVALID', 'outputs must hold 1-64 tensors', 'result');
    for (const t of msg.outputs) {
      const problem = tensorProblem(t);
      if (problem) return refuse(ws, 'AGENT__RESULT_INVALID', `output ${String(t?.name).slice(0, 40)}: ${problem}`, 'result');
    }
    const bytes = tensorsBytes(msg.outputs);
    if (bytes > MAX_RESULT_BYTES) return refuse(ws, 'AGENT__RESULT_TOO_LARGE', `outputs hold ${bytes} bytes; the limit is ${MAX_RESULT_BYTES}`, 'result');
    const digest = await tensorsDigest(msg.outputs);
    if (digest !== msg.outputDigest) return refuse(ws, 'AGENT__DIGEST_MISMATCH', 'outputDigest is not the digest of outputs', 'result');
    await this.env.BLOBS.put(resultKey(lease.job_id, lease.replica), JSON.stringify(msg.outputs satisfies WireTensor[]));
    const now = Date.now();
    const r = (await this.job(lease.job_id).submitResult(
      lease.job_id,
      { replica: lease.replica, leaseId: lease.lease_id, outputDigest: digest, outputBytes: bytes, fingerprint: at.fingerprint! },
      { commandId: `result:${lease.lease_id}`, actor: at.provider!, now },
    )) as Result<unknown>;
    this.ctx.storage.sql.exec('DELETE FROM agent_leases WHERE lease_id = ?', lease.lease_id);
    if (!r.ok) refuse(ws, r.error.code, r.error.message, 'result');
  }

  /** Queues replicas for dispatch; the caller pumps once the jobs have heard of their matches. */
  enqueue(dispatches: Dispatch[]): void {
    const now = Date.now();
    // Work no agent took in time: its job has re-matched or refunded by now.
    this.ctx.storage.sql.exec('DELETE FROM dispatch_queue WHERE queued_at < ?', now - MAX_QUEUE_AGE_MS);
    for (const d of dispatches) {
      this.ctx.storage.sql.exec('INSERT OR IGNORE INTO dispatch_queue (job_id, replica, ask_id, provider, queued_at) VALUES (?, ?, ?, ?, ?)', d.jobId, d.replica, d.askId, d.provider, now);
    }
  }

  /** Whether an agent with an announced free slot serves one of these dispatches' asks. */
  waitingFor(dispatches: Dispatch[]): boolean {
    const asks = new Set(dispatches.map((d) => d.askId));
    return this.sockets().some((s) => {
      const at = s.deserializeAttachment() as Attachment;
      return at.phase === 'ready' && at.free > 0 && asks.has(at.askId ?? '');
    });
  }

  /** A slot went back to its ask: the job no longer wants that replica there; tell the agent. */
  released(askId: string, jobId: string): void {
    this.ctx.storage.sql.exec('DELETE FROM dispatch_queue WHERE job_id = ? AND ask_id = ?', jobId, askId);
    const leases = this.ctx.storage.sql.exec<{ lease_id: string; agent_key: string }>('SELECT lease_id, agent_key FROM agent_leases WHERE job_id = ? AND ask_id = ?', jobId, askId).toArray();
    for (const l of leases) {
      this.ctx.storage.sql.exec('DELETE FROM agent_leases WHERE lease_id = ?', l.lease_id);
      for (const ws of this.sockets()) {
        const at = ws.deserializeAttachment() as Attachment;
        if (at.agentKey === l.agent_key) send(ws, { type: 'cancel', jobId, leaseId: l.lease_id, reason: 'the job released this slot' });
      }
    }
  }

  /**
   * Assigns queued replicas to agents with announced free slots, oldest first. One pump runs at a
   * time; a request made while it runs makes it go round again.
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
    // Only asks whose agent has announced a free slot can take work: read just their queue.
    const sockets = this.sockets().filter((s) => {
      const at = s.deserializeAttachment() as Attachment;
      return at.phase === 'ready' && at.free > 0;
    });
    if (sockets.length === 0) return;
    const asks = [...new Set(sockets.map((s) => (s.deserializeAttachment() as Attachment).askId!))].slice(0, 90);
    const queued = this.ctx.storage.sql
      .exec<{ job_id: string; replica: number; ask_id: string; provider: string; queued_at: number }>(
        `SELECT job_id, replica, ask_id, provider, queued_at FROM dispatch_queue WHERE ask_id IN (${asks.map(() => '?').join(',')}) ORDER BY queued_at, job_id, replica LIMIT 256`,
        ...asks,
      )
      .toArray();
    if (queued.length === 0) return;
    let retry = false;
    for (const q of queued) {
      if (Date.now() - q.queued_at > MAX_QUEUE_AGE_MS) {
        this.ctx.storage.sql.exec('DELETE FROM dispatch_queue WHERE job_id = ? AND replica = ?', q.job_id, q.replica);
        continue;
      }
      const ws = sockets.find((s) => {
        const at = s.deserializeAttachment() as Attachment;
        return at.phase === 'ready' && at.askId === q.ask_id && at.free > 0;
      });
      if (!ws) continue;
      const outcome = await this.assign(ws, q);
      if (outcome === 'retry') retry = true;
      else this.ctx.storage.sql.exec('DELETE FROM dispatch_queue WHERE job_id = ? AND replica = ?', q.job_id, q.replica);
    }
    // Jobs learn of matches through the market's outbox, a moment after the market dispatches. The
    // retry runs from the object's alarm: a timer set while handling one message may not outlive it.
    this.retryAt = retry ? Date.now() + RETRY_MS : null;
    if (retry) this.onRetry();
  }

  private async assign(ws: WebSocket, q: { job_id: string; replica: number; ask_id: string; provider: string }): Promise<'done' | 'retry'> {
    const at = ws.deserializeAttachment() as Attachment;
    const job = this.job(q.job_id);
    const work = (await job.workOrder()) as { spec: { modelSha256: string; inputSha256: string }; units: number } | null;
    if (!work) return 'retry';
    const leaseId = `lease_${encodeBase58Nonce()}`;
    const now = Date.now();
    const started = (await job.execute(q.job_id, { type: 'StartLease', replica: q.replica, leaseId, agentKey: at.agentKey! }, { commandId: `start:${leaseId}`, actor: q.provider, now })) as Result<{
      events: { type: string; expiresAt?: number }[];
    }>;
    if (!started.ok) {
      if (NOT_YET.has(started.error.code)) return 'retry';
      console.warn(`dispatch of ${q.job_id}#${q.replica} refused by the job: ${started.error.code}`);
      return 'done';
    }
    const expiresAt = started.value.events.find((e) => e.type === 'LeaseGranted')?.expiresAt ?? now;
    const inputs = await this.env.BLOBS.get(`inputs/${work.spec.inputSha256}`);
    const model = await this.env.BLOBS.head(`models/${work.spec.modelSha256}`);
    this.ctx.storage.sql.exec(
      'INSERT INTO agent_leases (lease_id, job_id, replica, ask_id, agent_key, provider, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      leaseId,
      q.job_id,
      q.replica,
      q.ask_id,
      at.agentKey!,
      q.provider,
      expiresAt,
    );
    const current = ws.deserializeAttachment() as Attachment;
    ws.serializeAttachment({ ...current, free: Math.max(0, current.free - 1) });
    const assign: AssignMessage = {
      type: 'assign',
      jobId: q.job_id,
      replica: q.replica,
      leaseId,
      expiresAt,
      model: { sha256: work.spec.modelSha256, bytes: model?.size ?? 0, url: `/v1/models/${work.spec.modelSha256}` },
      inputs: inputs ? ((await inputs.json()) as WireTensor[]) : [],
      outputs: [],
    };
    send(ws, assign);
    return 'done';
  }

  /** Agents that closed: their announced slots go with them; their leases stay until they lapse or the agent returns. */
  closed(ws: WebSocket): void {
    try {
      ws.close(1000, 'bye');
    } catch {
      // already closed
    }
  }

  private lease(leaseId: string, agentKey: string) {
    return this.ctx.storage.sql
      .exec<{ lease_id: string; job_id: string; replica: number }>('SELECT lease_id, job_id, replica FROM agent_leases WHERE lease_id = ? AND agent_key = ?', leaseId, agentKey)
      .toArray()[0];
  }

  private dropLease(ws: WebSocket, leaseId: string, jobId: string, code: string): void {
    this.ctx.storage.sql.exec('DELETE FROM agent_leases WHERE lease_id = ?', leaseId);
    send(ws, { type: 'cancel', jobId, leaseId, reason: code });
  }

  private sockets(): WebSocket[] {
    return this.ctx.getWebSockets();
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

function refuse(ws: WebSocket, code: string, message: string, ref?: string): void {
  send(ws, { type: 'error', code, message, ...(ref ? { ref } : {}) });
}
