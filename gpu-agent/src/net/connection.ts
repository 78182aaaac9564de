import { WebSocket } from 'ws';

import { AGENT_PROTOCOL_VERSION, helloMessage } from '../../../durable-objects/contracts/agent.ts';
import type {
  AgentMessage,
  AssignMessage,
  CancelMessage,
  NeedManifestMessage,
  StageCloseMessage,
  StageOpenMessage,
  StageStepMessage,
  HelloMessage,
  ServerErrorMessage,
  WelcomeMessage,
} from '../../../durable-objects/contracts/agent.ts';
import { signText } from '../../../durable-objects/contracts/auth.ts';
import type { Keypair } from '../../../durable-objects/contracts/auth.ts';
import { parseServerMessage } from './messages.ts';

/**
 * The agent's one WebSocket to its market (docs/architecture.md, "Protocols"): challenge → hello → welcome, then
 * heartbeats every `heartbeatMs` with the leases the agent holds. On close or error it reconnects
 * with exponential backoff and jitter; the agent core decides which leases survive (from welcome).
 */

/** The socket URL of a market's agent endpoint: http → ws, https → wss. */
export function agentSocketUrl(server: string, market: string): string {
  const url = new URL(server);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new Error(`server URL must be http(s) or ws(s), got ${url.protocol}`);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/markets/${encodeURIComponent(market)}/agent`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

export interface BackoffOptions {
  /** First delay's ceiling (ms). */
  baseMs: number;
  /** Largest delay (ms). */
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 250, capMs: 10_000 };

/**
 * Delay before reconnect attempt `attempt` (0-based): the exponential ceiling min(cap, base·2^n),
 * then "equal jitter" (half fixed, half random) so a fleet of agents dropped together does not
 * come back in step, and no attempt is ever immediate.
 */
export function backoffDelay(attempt: number, o: BackoffOptions & { random: () => number }): number {
  const ceiling = Math.min(o.capMs, o.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + o.random() * (ceiling / 2));
}

/** What the hello carries besides the signature; read at each connect, so the ask can change. */
export type HelloFields = Pick<HelloMessage, 'askId' | 'hardware' | 'runtime' | 'delegation' | 'stages' | 'direct'>;

/** Server messages after welcome that the agent core handles. */
export type WorkMessage = AssignMessage | CancelMessage | ServerErrorMessage | NeedManifestMessage | StageStepMessage | StageCloseMessage | StageOpenMessage;

export interface ConnectionHandlers {
  /** The server accepted the hello; the socket is open for work. */
  welcome(message: WelcomeMessage): void;
  /** An assign, cancel or server error after welcome. */
  message(message: WorkMessage): void;
  /** An assign with readable ids but an unreadable payload. */
  badAssign(o: { jobId: string; leaseId: string; problem: string }): void;
  /** The welcomed socket went away (a reconnect follows unless closing). */
  down?(reason: string): void;
}

export interface ConnectionOptions {
  server: string;
  market: string;
  /** The agent's hot key; it signs the challenge. */
  keypair: Keypair;
  hello: () => HelloFields;
  handlers: ConnectionHandlers;
  /** Lease ids to name in each heartbeat. */
  heldLeases: () => string[];
  log: (line: string) => void;
  backoff?: BackoffOptions;
  /** How long to wait for challenge and welcome before dropping the socket (ms). */
  handshakeTimeoutMs?: number;
  random?: () => number;
}

export type ConnectionState = 'idle' | 'connecting' | 'handshaking' | 'open' | 'waiting' | 'closed';

/** Shortest heartbeat interval honoured, whatever the server asks. */
const MIN_HEARTBEAT_MS = 10;

export class AgentConnection {
  readonly url: string;
  private readonly o: ConnectionOptions;
  private ws: WebSocket | null = null;
  private stateValue: ConnectionState = 'idle';
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private handshakeTimer: NodeJS.Timeout | null = null;

  constructor(o: ConnectionOptions) {
    this.o = o;
    this.url = agentSocketUrl(o.server, o.market);
  }

  /** Where the connection stands. */
  get state(): ConnectionState {
    return this.stateValue;
  }

  /** True once welcomed and until the socket drops. */
  get isOpen(): boolean {
    return this.stateValue === 'open';
  }

  /** Opens the socket (once); reconnects on its own until `close()`. */
  start(): void {
    if (this.stateValue !== 'idle') return;
    this.connect();
  }

  /** Sends a message on the welcomed socket; false when there is none (the caller keeps it). */
  send(message: AgentMessage): boolean {
    if (this.stateValue !== 'open' || !this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  /** Drops the socket and connects again at once (a new hello, e.g. for a new ask id). */
  reconnect(reason: string): void {
    if (this.stateValue === 'closed' || this.stateValue === 'idle') return;
    this.o.log(`reconnecting: ${reason}`);
    this.attempt = 0;
    this.clearRetry();
    if (this.ws) this.teardown(this.ws, reason, 1000, true);
    this.connect();
  }

  /** Closes for good; resolves when the socket is gone. */
  close(): Promise<void> {
    if (this.stateValue === 'closed') return Promise.resolve();
    const wasOpen = this.stateValue === 'open';
    this.stateValue = 'closed';
    this.clearRetry();
    this.stopTimers();
    const ws = this.ws;
    this.ws = null;
    if (!ws || ws.readyState === WebSocket.CLOSED) {
      this.o.log('connection closed');
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const force = setTimeout(() => ws.terminate(), 2_000);
      ws.once('close', () => {
        clearTimeout(force);
        this.o.log('connection closed');
        if (wasOpen) this.o.handlers.down?.('closed by the agent');
        resolve();
      });
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000, 'agent shutting down');
    });
  }

  private connect(): void {
    this.stateValue = 'connecting';
    const ws = new WebSocket(this.url, { handshakeTimeout: this.o.handshakeTimeoutMs ?? 10_000, maxPayload: 64 * 1024 * 1024 });
    this.ws = ws;
    this.armHandshakeTimer(ws);
    ws.on('open', () => {
      if (this.ws !== ws) return;
      this.stateValue = 'handshaking';
    });
    ws.on('message', (data, isBinary) => {
      if (this.ws !== ws) return;
      if (isBinary) {
        this.o.log('ignored a binary message from the server');
        return;
      }
      void this.receive(ws, data.toString()).catch((err: unknown) => this.o.log(`failed handling a server message: ${describe(err)}`));
    });
    ws.on('error', (err) => {
      if (this.ws !== ws) return;
      this.o.log(`socket error: ${describe(err)}`);
    });
    ws.on('close', (code, reasonBuffer) => {
      if (this.ws !== ws) return;
      const reason = reasonBuffer.toString();
      this.lost(ws, `closed by the server (${code}${reason ? ` ${reason}` : ''})`);
    });
    ws.on('unexpected-response', (_req, res) => {
      if (this.ws !== ws) return;
      this.lost(ws, `upgrade refused with HTTP ${res.statusCode ?? '?'}`);
    });
  }

  private async receive(ws: WebSocket, text: string): Promise<void> {
    const parsed = parseServerMessage(text);
    if (parsed.kind === 'invalid') {
      this.o.log(`ignored an invalid server message: ${parsed.problem}`);
      return;
    }
    if (parsed.kind === 'bad-assign') {
      if (this.stateValue === 'open') this.o.handlers.badAssign(parsed);
      else this.o.log('ignored an assign before welcome');
      return;
    }
    const m = parsed.message;
    if (m.type === 'challenge') {
      if (this.stateValue !== 'handshaking') {
        this.o.log('ignored a challenge outside the handshake');
        return;
      }
      const fields = this.o.hello();
      const agentKey = this.o.keypair.publicKey;
      const signature = await signText(this.o.keypair, helloMessage({ market: this.o.market, nonce: m.nonce, agentKey }));
      if (this.ws !== ws || ws.readyState !== WebSocket.OPEN) return;
      const hello: HelloMessage = { type: 'hello', v: AGENT_PROTOCOL_VERSION, agentKey, signature, askId: fields.askId, hardware: fields.hardware, runtime: fields.runtime };
      if (fields.delegation) hello.delegation = fields.delegation;
      if (fields.stages && fields.stages.length > 0) hello.stages = fields.stages;
      if (fields.direct) hello.direct = fields.direct;
      ws.send(JSON.stringify(hello));
      return;
    }
    if (m.type === 'welcome') {
      if (this.stateValue !== 'handshaking') {
        this.o.log('ignored a welcome outside the handshake');
        return;
      }
      this.clearHandshakeTimer();
      this.stateValue = 'open';
      this.attempt = 0;
      this.o.log(`connected to ${this.url} (heartbeat every ${m.heartbeatMs} ms, ${m.leases.length} lease(s) on record)`);
      this.o.handlers.welcome(m);
      this.startHeartbeat(Math.max(MIN_HEARTBEAT_MS, m.heartbeatMs));
      // A reconnect may have eaten into the leases' time: renew them now rather than in one interval.
      if (this.o.heldLeases().length > 0) this.heartbeat();
      return;
    }
    if (m.type === 'error' && this.stateValue !== 'open') {
      this.o.log(`server refused the handshake: ${m.code}: ${m.message}`);
      return;
    }
    if (this.stateValue !== 'open') {
      this.o.log(`ignored ${m.type} before welcome`);
      return;
    }
    this.o.handlers.message(m);
  }

  private heartbeat(): void {
    this.send({ type: 'heartbeat', leases: this.o.heldLeases() });
  }

  private startHeartbeat(ms: number): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => this.heartbeat(), ms);
  }

  private armHandshakeTimer(ws: WebSocket): void {
    this.clearHandshakeTimer();
    const ms = this.o.handshakeTimeoutMs ?? 10_000;
    this.handshakeTimer = setTimeout(() => {
      if (this.ws === ws && this.stateValue !== 'open') this.lost(ws, `no welcome within ${ms} ms`);
    }, ms);
  }

  private clearHandshakeTimer(): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
  }

  private stopTimers(): void {
    this.clearHandshakeTimer();
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** The current socket failed: forget it and schedule the next attempt. */
  private lost(ws: WebSocket, reason: string): void {
    if (this.ws !== ws || this.stateValue === 'closed') return;
    this.teardown(ws, reason, 1000, false);
    const delay = backoffDelay(this.attempt, { ...(this.o.backoff ?? DEFAULT_BACKOFF), random: this.o.random ?? Math.random });
    this.attempt++;
    this.stateValue = 'waiting';
    this.o.log(`disconnected: ${reason}; retrying in ${delay} ms`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.stateValue === 'waiting') this.connect();
    }, delay);
  }

  private teardown(ws: WebSocket, reason: string, code: number, polite: boolean): void {
    const wasOpen = this.stateValue === 'open';
    this.stopTimers();
    this.ws = null;
    ws.removeAllListeners('message');
    ws.on('error', () => {}); // a late error on a socket we dropped is not news
    if (polite && ws.readyState === WebSocket.OPEN) ws.close(code, reason.slice(0, 100));
    else ws.terminate();
    if (wasOpen) this.o.handlers.down?.(reason);
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
