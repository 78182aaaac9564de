import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';

import { AGENT_PROTOCOL_VERSION, helloMessage } from '../../durable-objects/contracts/agent.ts';
import type { AgentMessage, HelloMessage, WelcomeMessage } from '../../durable-objects/contracts/agent.ts';
import { verifyText } from '../../durable-objects/contracts/auth.ts';

/**
 * Used by tests only: a real server on 127.0.0.1 that speaks the market's side of the agent
 * protocol (challenge, hello checked with verifyText, welcome) and, optionally, answers HTTP
 * requests (for the CLI's ask listing). Tests drive each accepted socket through `PeerSocket`.
 */

export interface PeerHttpRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface PeerOptions {
  /** The welcome for each verified hello; the n-th socket is `index`. Default: no leases, 1 s heartbeats. */
  welcome?: (hello: HelloMessage, index: number) => Omit<WelcomeMessage, 'type'>;
  /** Answers plain HTTP requests (404 when absent). */
  http?: (req: PeerHttpRequest) => { status?: number; body: unknown };
}

export interface Peer {
  /** http://127.0.0.1:PORT */
  url: string;
  sockets: PeerSocket[];
  httpRequests: PeerHttpRequest[];
  /** The n-th socket (0-based) once its hello verified and its welcome went out. */
  socket(index: number, timeoutMs?: number): Promise<PeerSocket>;
  close(): Promise<void>;
}

export class PeerSocket {
  readonly ws: WebSocket;
  readonly path: string;
  readonly nonce: string;
  hello: HelloMessage | null = null;
  helloVerified = false;
  /** Every agent message after hello, in order. */
  readonly received: AgentMessage[] = [];
  /** Frames that were not JSON (should stay empty). */
  readonly garbage: string[] = [];
  closed = false;
  private unread: AgentMessage[] = [];
  private waiters: { match: (m: AgentMessage) => boolean; resolve: (m: AgentMessage) => void }[] = [];

  constructor(ws: WebSocket, path: string, nonce: string) {
    this.ws = ws;
    this.path = path;
    this.nonce = nonce;
    ws.on('close', () => (this.closed = true));
  }

  /** Sends an object as JSON, or a raw string as it is. */
  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Drops the connection without a close handshake, as a crashed server would. */
  drop(): void {
    this.ws.terminate();
  }

  /** The next unread message of that type (consumed), waiting for it if need be. */
  next<T extends AgentMessage['type']>(type: T, timeoutMs = 5_000): Promise<Extract<AgentMessage, { type: T }>> {
    return this.take((m) => m.type === type, timeoutMs) as Promise<Extract<AgentMessage, { type: T }>>;
  }

  /** The next unread message that matches (consumed). */
  take(match: (m: AgentMessage) => boolean, timeoutMs = 5_000): Promise<AgentMessage> {
    const i = this.unread.findIndex(match);
    if (i !== -1) return Promise.resolve(this.unread.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (m: AgentMessage) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no matching agent message within ${timeoutMs} ms; received: ${this.received.map((m) => m.type).join(', ') || 'nothing'}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Unread messages of a type, without consuming them. */
  unreadOf(type: AgentMessage['type']): AgentMessage[] {
    return this.unread.filter((m) => m.type === type);
  }

  /** Resolves when the agent (or anyone) has closed this socket. */
  whenClosed(timeoutMs = 5_000): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs);
      this.ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Called by the peer for each agent message after hello. */
  push(m: AgentMessage): void {
    this.received.push(m);
    const i = this.waiters.findIndex((w) => w.match(m));
    if (i !== -1) {
      const [w] = this.waiters.splice(i, 1);
      w!.resolve(m);
      return;
    }
    this.unread.push(m);
  }
}

/** Starts a peer on 127.0.0.1, port chosen by the OS. */
export async function startPeer(o: PeerOptions = {}): Promise<Peer> {
  const sockets: PeerSocket[] = [];
  const httpRequests: PeerHttpRequest[] = [];
  const socketWaiters = new Map<number, ((s: PeerSocket) => void)[]>();
  const welcomed = new Set<PeerSocket>();
  let nonceCounter = 0;

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      const recorded: PeerHttpRequest = { method: req.method ?? '', path: req.url ?? '', headers, body: Buffer.concat(chunks).toString('utf8') };
      httpRequests.push(recorded);
      const answer = o.http ? o.http(recorded) : { status: 404, body: { error: { code: 'API__NOT_FOUND', message: 'no route', context: {} } } };
      res.writeHead(answer.status ?? 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer.body));
    });
  });
  const wss = new WebSocketServer({ server });

  wss.on('connection', (ws, req) => {
    const nonce = `nonce-${++nonceCounter}-${Math.random().toString(36).slice(2)}`;
    const socket = new PeerSocket(ws, req.url ?? '', nonce);
    const index = sockets.length;
    sockets.push(socket);
    ws.on('message', (data) => {
      const text = data.toString();
      let m: AgentMessage;
      try {
        m = JSON.parse(text) as AgentMessage;
      } catch {
        socket.garbage.push(text);
        return;
      }
      if (socket.hello === null && m.type === 'hello') {
        socket.hello = m;
        void (async () => {
          const ok =
            m.v === AGENT_PROTOCOL_VERSION &&
            (await verifyText(m.agentKey, m.signature, helloMessage({ market: marketOf(socket.path), nonce, agentKey: m.agentKey })));
          socket.helloVerified = ok;
          if (!ok) {
            ws.send(JSON.stringify({ type: 'error', code: 'AUTH__SIGNATURE_INVALID', message: 'hello signature does not verify' }));
            ws.close(4001, 'bad hello');
            return;
          }
          const w = o.welcome?.(m, index) ?? { leases: [], heartbeatMs: 1_000 };
          ws.send(JSON.stringify({ type: 'welcome', ...w }));
          welcomed.add(socket);
          for (const resolve of socketWaiters.get(index) ?? []) resolve(socket);
          socketWaiters.delete(index);
        })();
        return;
      }
      socket.push(m);
    });
    ws.send(JSON.stringify({ type: 'challenge', nonce }));
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    sockets,
    httpRequests,
    socket(index, timeoutMs = 5_000) {
      const s = sockets[index];
      if (s && welcomed.has(s)) return Promise.resolve(s);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no welcomed socket #${index} within ${timeoutMs} ms (have ${sockets.length})`)), timeoutMs);
        const list = socketWaiters.get(index) ?? [];
        list.push((sock) => {
          clearTimeout(timer);
          resolve(sock);
        });
        socketWaiters.set(index, list);
      });
    },
    close: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The market id in `/v1/markets/:market/agent`. */
function marketOf(path: string): string {
  const m = /^\/v1\/markets\/([^/?]+)\/agent/.exec(path);
  return m ? decodeURIComponent(m[1]!) : '';
}
