// The local chain's servers: JSON-RPC 2.0 over HTTP POST (single and batch) and WebSocket
// subscriptions, on `port` and again on `port + 1` — web3.js v1's Connection derives its WebSocket
// URL as the RPC port plus one (as for a validator's 8899/8900), while other clients use one URL for
// both. Loopback only; state saved to a JSON file on an interval and on stop.

import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import type { LiteSVM } from 'litesvm';
import { WebSocketServer, type WebSocket } from 'ws';
import { Chain, type ChainOptions } from './chain.ts';
import { INTERNAL_ERROR, INVALID_REQUEST, PARSE_ERROR } from './errors.ts';
import { errorResponse, handleRequest, type RpcResponse } from './rpc.ts';
import { Subscriptions } from './subscriptions.ts';

export interface LocalChainOptions extends ChainOptions {
  /** The RPC port; WebSockets are also served on port + 1. 0 or absent: a free pair is chosen. */
  port?: number;
  /** Loopback address to bind (default 127.0.0.1). */
  host?: string;
  /** JSON state file: loaded at start when it exists, written on an interval and on stop. */
  stateFile?: string;
  /** How often a changed chain is saved (default 1,000 ms). */
  saveIntervalMs?: number;
}

export interface LocalChain {
  /** The RPC URL (http://host:port). */
  url: string;
  /** The WebSocket URL web3.js derives from `url` (ws://host:port+1); ws://host:port works too. */
  wsUrl: string;
  port: number;
  chain: Chain;
  svm: LiteSVM;
  /** Moves the chain `n` slots forward. */
  advanceSlots(n: number): void;
  /** Moves past the lifetime of every blockhash handed out so far. */
  expireBlockhash(): void;
  /** Writes the state file now (no-op without one). */
  save(): void;
  /** Live WebSocket subscriptions (lets tests wait for a client's subscription to be in place). */
  readonly subscriptionCount: number;
  /** Closes the servers and saves. */
  stop(): Promise<void>;
}

const MAX_BODY_BYTES = 8 * 1024 * 1024;

/**
 * Writes the chain's state atomically: a temporary file, then a rename over the old one. Private
 * like the keys beside it (it holds every account of the chain): the file 0600, a folder it makes 0700.
 */
function writeState(chain: Chain, file: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(chain.toState()), { mode: 0o600 });
  chmodSync(tmp, 0o600); // an older temporary file of the same name kept its mode
  renameSync(tmp, file);
}

function loadChain(options: LocalChainOptions): Chain {
  const chainOptions: ChainOptions = {};
  if (options.slotMs !== undefined) chainOptions.slotMs = options.slotMs;
  if (options.historyLimit !== undefined) chainOptions.historyLimit = options.historyLimit;
  if (options.now !== undefined) chainOptions.now = options.now;
  if (options.stateFile && existsSync(options.stateFile)) {
    const text = readFileSync(options.stateFile, 'utf8');
    return Chain.fromState(JSON.parse(text), chainOptions);
  }
  return new Chain(chainOptions);
}

/** Answers a parsed HTTP/WebSocket payload: one request or a batch. */
function answer(chain: Chain, payload: unknown, extra?: (method: string, params: unknown[]) => unknown): RpcResponse | RpcResponse[] | undefined {
  if (Array.isArray(payload)) {
    if (payload.length === 0) return errorResponse(null, INVALID_REQUEST, 'Invalid request');
    const out = payload.map((r) => handleRequest(chain, r, extra)).filter((r): r is RpcResponse => r !== undefined);
    return out.length > 0 ? out : undefined;
  }
  return handleRequest(chain, payload, extra);
}

function parse(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

const close = (server: Server): Promise<void> =>
  new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

/** Starts the local chain's servers over a new or restored chain. */
export async function startLocalChain(options: LocalChainOptions = {}): Promise<LocalChain> {
  const host = options.host ?? '127.0.0.1';
  const chain = loadChain(options);
  const subscriptions = new Subscriptions(chain);

  const onHttp = (req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Methods', 'POST, GET, OPTIONS');
    res.setHeader('Access-Control-Allow-Headers', 'Content-Type, solana-client');
    if (req.method === 'OPTIONS') {
      res.writeHead(204).end();
      return;
    }
    if (req.method === 'GET' && req.url === '/health') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { Allow: 'POST' }).end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      if (tooLarge) {
        res.writeHead(413).end();
        return;
      }
      let text: string | undefined;
      try {
        const parsed = parse(Buffer.concat(chunks).toString('utf8'));
        const body = parsed.ok ? answer(chain, parsed.value) : errorResponse(null, PARSE_ERROR, 'Parse error');
        text = body === undefined ? undefined : JSON.stringify(body);
      } catch (err) {
        text = JSON.stringify(errorResponse(null, INTERNAL_ERROR, `Internal error: ${err instanceof Error ? err.message : String(err)}`));
      }
      if (text === undefined) res.writeHead(200).end();
      else res.writeHead(200, { 'Content-Type': 'application/json' }).end(text);
    });
  };

  const onSocket = (socket: WebSocket) => {
    socket.on('message', (data, isBinary) => {
      let text: string | undefined;
      try {
        const parsed = parse(isBinary ? '' : data.toString());
        const extra = (method: string, params: unknown[]) => subscriptions.handle(socket, method, params);
        const body = parsed.ok ? answer(chain, parsed.value, extra) : errorResponse(null, PARSE_ERROR, 'Parse error');
        text = body === undefined ? undefined : JSON.stringify(body);
      } catch (err) {
        text = JSON.stringify(errorResponse(null, INTERNAL_ERROR, `Internal error: ${err instanceof Error ? err.message : String(err)}`));
      }
      if (text !== undefined && socket.readyState === socket.OPEN) socket.send(text);
    });
    socket.on('close', () => subscriptions.closed(socket));
    socket.on('error', () => socket.terminate());
  };

  // The RPC port and port + 1 (web3.js's WebSocket port). Port 0: try random free pairs.
  const servers: Server[] = [];
  const sockets: WebSocketServer[] = [];
  let port = options.port ?? 0;
  for (let attempt = 0; ; attempt++) {
    const candidate = port || 20_000 + Math.floor(Math.random() * 40_000);
    const rpc = createServer(onHttp);
    const ws = createServer(onHttp);
    try {
      await listen(rpc, candidate, host);
      try {
        await listen(ws, candidate + 1, host);
      } catch (err) {
        await close(rpc);
        throw err;
      }
      servers.push(rpc, ws);
      port = candidate;
      break;
    } catch (err) {
      if (options.port || attempt >= 20 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
  for (const server of servers) {
    const wss = new WebSocketServer({ server, maxPayload: 1024 * 1024 });
    wss.on('connection', onSocket);
    sockets.push(wss);
  }

  const save = () => {
    if (options.stateFile) writeState(chain, options.stateFile);
  };
  const slotTimer =
    chain.slotIntervalMs > 0
      ? setInterval(() => {
          try {
            chain.tick();
          } catch (err) {
            console.error(`local chain: slot tick failed: ${err instanceof Error ? err.message : String(err)}`);
          }
        }, chain.slotIntervalMs)
      : null;
  slotTimer?.unref();
  const saveTimer = options.stateFile
    ? setInterval(() => {
        if (!chain.dirty) return;
        try {
          save();
        } catch (err) {
          console.error(`local chain: saving ${options.stateFile} failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }, options.saveIntervalMs ?? 1000)
    : null;
  saveTimer?.unref();

  let stopped = false;
  return {
    url: `http://${host}:${port}`,
    wsUrl: `ws://${host}:${port + 1}`,
    port,
    chain,
    svm: chain.svm,
    advanceSlots: (n) => chain.advanceSlots(n),
    expireBlockhash: () => chain.expireBlockhash(),
    save,
    get subscriptionCount() {
      return subscriptions.size;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (slotTimer) clearInterval(slotTimer);
      if (saveTimer) clearInterval(saveTimer);
      // A normal closure (1000): web3.js's socket client reconnects forever after any other code.
      for (const wss of sockets) for (const client of wss.clients) client.close(1000, 'local chain stopped');
      const deadline = Date.now() + 500;
      while (sockets.some((wss) => wss.clients.size > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      for (const wss of sockets) {
        for (const client of wss.clients) client.terminate();
        wss.close();
      }
      await Promise.all(servers.map(close));
      save();
    },
  };
}
