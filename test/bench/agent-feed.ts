/**
 * The market's end of the agent benchmark (test/bench/agent-overhead.ts), in a thread of its own.
 * In production the market runs elsewhere (a Durable Object on Cloudflare), so its work per job
 * (parsing results, dispatch decisions, sending assigns) is not on the agent's thread; run in the
 * agent's own thread, it was charged to the agent: on this 2-core machine the in-process server
 * and the agent shared one thread, and every one of the server's frames delayed the agent's next
 * run. startFeedThread runs the server in a worker thread and answers for it over messages.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { WebSocketServer, type WebSocket } from 'ws';
import { AGENT_PROTOCOL_VERSION, fingerprintOf, helloMessage, type AssignMessage } from '../../durable-objects/contracts/agent.ts';
import { parseAgentMessage } from '../../durable-objects/contracts/agent-messages.ts';
import { verifyText } from '../../durable-objects/contracts/auth.ts';
import { tensorsBytes, type WireTensor } from '../../durable-objects/contracts/tensors.ts';
import { dispatchDecider, openings, type DispatchCommand, type DispatchEvent } from '../../durable-objects/domain/dispatch/index.ts';
import type { Result } from '../../durable-objects/domain/result.ts';

/**
 * The market's side of the agent protocol on 127.0.0.1, as the gateway speaks it: frames parsed with
 * the gateway's parser (parseAgentMessage), the hello checked with verifyText, and every decision
 * (slots and prefetch window announced, which socket gets which work and whether into a free slot or
 * the window, starts, results, heartbeats) made by the dispatch decider itself. Work is queued for
 * the round's ask while the round wants jobs; assigns are pre-serialised but for their ids. What the
 * gateway adds beyond this (the job's StartLease, storage) is the market's cost, not the agent's.
 */
export interface FeedServer {
  url: string;
  /** Resolves once an agent serving `askId` is welcomed and has announced a free slot. */
  connected(askId: string): Promise<void>;
  /** Feeds the agent of `askId` for about `ms` ms; returns completed jobs per second (after its held work is done). */
  round(ms: number, askId: string): Promise<number>;
  /** Refusals the server sent, or errors the agent sent (should stay 0), and the first of them in words. */
  problems(): Promise<{ count: number; first: string }>;
  close(): Promise<void>;
}

interface FeedOptions {
  market: string;
  model: { sha256: string; bytes: number };
  input: WireTensor;
}

async function startFeedServer(o: FeedOptions): Promise<FeedServer> {
  const http = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server: http });
  // Everything but the ids is fixed: splice them into one pre-serialised assign, with or without prefetch.
  const template = (prefetch: boolean) => {
    const assign: AssignMessage = {
      type: 'assign', jobId: '@J@', replica: 0, leaseId: '@L@', expiresAt: Date.now() + 3_600_000,
      model: { sha256: o.model.sha256, bytes: o.model.bytes, url: `/v1/models/${o.model.sha256}` }, inputs: [o.input], outputs: [],
      ...(prefetch ? { prefetch: true as const } : {}),
    };
    const [head, rest] = JSON.stringify(assign).split('"@J@"') as [string, string];
    const [mid, tail] = rest.split('"@L@"') as [string, string];
    return (jobId: string, leaseId: string) => `${head}"${jobId}"${mid}"${leaseId}"${tail}`;
  };
  const toSlot = template(false);
  const toWindow = template(true);
  const state = dispatchDecider.initialState();
  const meta = (now: number) => ({ commandId: 'bench', actor: 'system:dispatch', now });
  const decide = (command: DispatchCommand): Result<DispatchEvent[]> => {
    const r = dispatchDecider.decide(state, command, meta(Date.now()));
    if (r.ok) for (const e of r.value) dispatchDecider.evolve(state, e, meta(0));
    return r;
  };
  const sockets = new Map<string, WebSocket>();
  let seq = 0;
  let problems = 0;
  let firstProblem = '';
  const problem = (what: string) => {
    if (problems++ === 0) firstProblem = what;
  };
  let round: { askId: string; until: number; start: number; done: number; rate: number | null; finish: (rate: number) => void } | null = null;
  const waiters: { askId: string; resolve: () => void }[] = [];

  /** Queues work for the round's ask up to what its agents can take, then lets the decider assign it. */
  const pump = () => {
    if (round && round.rate === null) {
      let open = 0;
      for (const [id, n] of openings(state)) if (state.agents[id]?.askId === round.askId) open += n.slots + n.room;
      const queued = Object.keys(state.queue).length;
      const work = Array.from({ length: Math.max(0, open - queued) }, () => ({ jobId: `job-${++seq}`, replica: 0, askId: round!.askId, provider: 'bench' }));
      if (work.length > 0) decide({ type: 'QueueWork', work });
    }
    if (Object.keys(state.queue).length === 0) return;
    const r = decide({ type: 'AssignWork', leaseIds: Object.keys(state.queue).map(() => `lease-${++seq}`) });
    if (!r.ok) return;
    for (const e of r.value) if (e.type === 'WorkAssigned') sockets.get(e.socketId)?.send((e.prefetched ? toWindow : toSlot)(e.jobId, e.leaseId));
  };

  /** The round ends at its first result past its time, and resolves once the agent holds nothing more (prefetched work ran out). */
  const settle = () => {
    if (!round || round.rate === null) return;
    if (Object.values(state.assignments).some((a) => a.askId === round!.askId)) return;
    const r = round;
    round = null;
    r.finish(r.rate!);
  };

  wss.on('connection', (ws) => {
    const nonce = `bench-${Math.random().toString(36).slice(2)}`;
    const socketId = `socket-${++seq}`;
    const refuse = (code: string, message: string, ref?: string) => {
      problem(`refused ${ref ?? ''}: ${code} ${message}`);
      ws.send(JSON.stringify({ type: 'error', code, message, ...(ref ? { ref } : {}) }));
    };
    ws.on('close', () => {
      sockets.delete(socketId);
      if (state.agents[socketId]) decide({ type: 'CloseSocket', socketId });
    });
    ws.on('message', (data) => {
      const parsed = parseAgentMessage(data.toString());
      if (!parsed.ok) return refuse(parsed.code, parsed.message, parsed.ref);
      const m = parsed.message;
      if (m.type === 'hello') {
        void verifyText(m.agentKey, m.signature, helloMessage({ market: o.market, nonce, agentKey: m.agentKey })).then((ok) => {
          if (!ok || m.v !== AGENT_PROTOCOL_VERSION) {
            refuse('AUTH__SIGNATURE_INVALID', 'bad hello', 'hello');
            ws.close(4001, 'bad hello');
            return;
          }
          decide({ type: 'AcceptAgent', socketId, askId: m.askId, agentKey: m.agentKey, provider: 'bench', fingerprint: fingerprintOf(m.runtime) });
          sockets.set(socketId, ws);
          ws.send(JSON.stringify({ type: 'welcome', leases: [], heartbeatMs: 5_000 }));
        });
        return;
      }
      if (!state.agents[socketId]) return refuse('AGENT__NOT_AUTHENTICATED', 'send hello first', m.type);
      let r: Result<DispatchEvent[]>;
      switch (m.type) {
        case 'ready':
          r = decide({ type: 'AnnounceReady', socketId, slots: m.slots, ...(m.prefetch !== undefined ? { prefetch: m.prefetch } : {}) });
          if (r.ok && m.slots > 0) {
            const askId = state.agents[socketId]!.askId;
            for (const w of waiters.filter((x) => x.askId === askId)) w.resolve();
          }
          break;
        case 'start':
          r = decide({ type: 'StartWork', socketId, leaseId: m.leaseId });
          break;
        case 'heartbeat':
          r = decide({ type: 'RecordHeartbeat', socketId, leases: m.leases });
          break;
        case 'result': {
          r = decide({ type: 'AcceptResult', socketId, jobId: m.jobId, leaseId: m.leaseId, bytes: tensorsBytes(m.outputs) });
          if (r.ok && round && round.rate === null) {
            round.done++;
            const now = performance.now();
            if (now >= round.until) round.rate = (round.done * 1000) / (now - round.start);
          }
          break;
        }
        case 'error':
          problem(`agent error ${m.code}: ${m.message}`);
          r = decide({ type: 'ReportError', socketId, leaseId: m.leaseId });
          break;
        default:
          return refuse('AGENT__MALFORMED_MESSAGE', 'this bench server serves no chat stages', m.type);
      }
      if (!r.ok) return refuse(r.error.code, r.error.message, m.type);
      pump();
      settle();
    });
    ws.send(JSON.stringify({ type: 'challenge', nonce }));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connected: (askId) =>
      new Promise<void>((resolve) => {
        const ready = Object.values(state.agents).some((a) => a.askId === askId && a.free > 0);
        if (ready) resolve();
        else waiters.push({ askId, resolve });
      }),
    round: (ms, askId) =>
      new Promise<number>((finish) => {
        const start = performance.now();
        round = { askId, until: start + ms, start, done: 0, rate: null, finish };
        pump();
      }),
    problems: async () => ({ count: problems, first: firstProblem }),
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

type Call = { id: number; op: 'url' | 'connected' | 'round' | 'problems' | 'close'; args: unknown[] };
type Reply = { id: number; value?: unknown; error?: string };

/** The feed server in a worker thread, answering for it over messages; close() ends the thread. */
export async function startFeedThread(o: FeedOptions): Promise<FeedServer> {
  // The agent's thread entry (gpu-agent/src/exec/ts-thread.mjs) loads this TypeScript module through tsx.
  const worker = new Worker(new URL('../../gpu-agent/src/exec/ts-thread.mjs', import.meta.url), { workerData: { module: import.meta.url, agentFeed: o } });
  let next = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const failAll = (error: Error) => {
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  };
  worker.on('error', failAll);
  worker.on('exit', (code) => failAll(new Error(`the feed thread exited (${code})`)));
  worker.on('message', (m: Reply) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.error !== undefined) p.reject(new Error(m.error));
    else p.resolve(m.value);
  });
  const call = <T>(op: Call['op'], ...args: unknown[]) =>
    new Promise<T>((resolve, reject) => {
      const id = ++next;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ id, op, args } satisfies Call);
    });
  const url = await call<string>('url');
  return {
    url,
    connected: (askId) => call<void>('connected', askId),
    round: (ms, askId) => call<number>('round', ms, askId),
    problems: () => call<{ count: number; first: string }>('problems'),
    close: async () => {
      await call<void>('close');
      await worker.terminate();
    },
  };
}

if (!isMainThread && (workerData as { agentFeed?: FeedOptions } | null)?.agentFeed) {
  const server = await startFeedServer((workerData as { agentFeed: FeedOptions }).agentFeed);
  parentPort!.on('message', (m: Call) => {
    const answer = async (): Promise<unknown> => {
      if (m.op === 'url') return server.url;
      if (m.op === 'connected') return server.connected(m.args[0] as string);
      if (m.op === 'round') return server.round(m.args[0] as number, m.args[1] as string);
      if (m.op === 'problems') return server.problems();
      return server.close();
    };
    answer().then(
      (value) => parentPort!.postMessage({ id: m.id, value } satisfies Reply),
      (error: unknown) => parentPort!.postMessage({ id: m.id, error: String(error) } satisfies Reply),
    );
  });
}
