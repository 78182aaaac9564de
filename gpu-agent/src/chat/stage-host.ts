/**
 * The chat stages an agent holds (`doug-agent --chat-model DIR --stages N --hold I[,J]`): loaded
 * from the model folder, announced in hello, and served as the market object sends steps
 * (contracts/agent.ts `stage-step`). A step's answer goes back on the socket it came from.
 */
import { WebSocket, WebSocketServer } from 'ws';
import type { AgentMessage, NeedManifestMessage, StageCloseMessage, StageOpenMessage, StageStepMessage } from '../../../durable-objects/contracts/agent.ts';
import { parseServerMessage } from '../net/messages.ts';
import { decodeFloats, encodeFloats, type StageAnnouncement } from '../../../durable-objects/contracts/chat.ts';
import { openChatFolder, type ChatFolder } from '../../models/chat-folder.ts';
import { StageRunner, StageStepError, stageShape } from '../exec/stage-runner.ts';

export type StageMessage = NeedManifestMessage | StageStepMessage | StageCloseMessage | StageOpenMessage;

/** Most sessions whose grants (stage-open) an agent keeps for steps from other agents. */
const GRANTS_KEPT = 4096;

export class StageHost {
  private constructor(
    readonly folder: ChatFolder,
    private readonly runners: Map<number, StageRunner>,
    /** TEST ONLY (DOUG_AGENT_FAULT=wrong-output): every output corrupted, to exercise verification. */
    private readonly corrupt: boolean,
    /** TEST ONLY (DOUG_AGENT_STAGE_DELAY_MS): every step answered this many ms late, a slower machine's stand-in. */
    private readonly delayMs: number,
  ) {}

  static async open(dir: string, o: { stages: number; hold: readonly number[]; name?: string; threads?: number; corrupt?: boolean; delayMs?: number }): Promise<StageHost> {
    const folder = await openChatFolder(dir, o.stages, o.name);
    const m = folder.manifest;
    const runners = new Map<number, StageRunner>();
    for (const index of o.hold) {
      if (!m.stages[index]) throw new Error(`--hold ${index}: the model is cut into ${m.stages.length} stage(s), 0 to ${m.stages.length - 1}`);
      runners.set(index, await StageRunner.load(folder.stages[index]!, stageShape(m, index), { threads: o.threads ?? 1 }));
    }
    return new StageHost(folder, runners, o.corrupt === true, o.delayMs ?? 0);
  }

  /** Grants of direct steps by `manifest index session`. */
  private readonly grants = new Map<string, string>();
  /** Sockets to other agents' stages, by address. */
  private readonly peers = new Map<string, { ws: WebSocket; open: Promise<void> }>();
  private server: WebSocketServer | null = null;
  /** The socket to the market object, as last used (direct steps answer and report there). */
  private toServer: ((message: AgentMessage) => boolean) | null = null;

  /**
   * Direct mode: serves steps from other agents on host:port (0: any free port); answers the
   * address to announce. A step is taken only with the grant the market object gave this stage
   * for its session (stage-open): no one else can grow a session's cache.
   */
  async listen(host: string, port: number): Promise<string> {
    const server = new WebSocketServer({ host, port, maxPayload: 64 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
    server.on('connection', (ws) => {
      ws.on('message', (data) => {
        const parsed = parseServerMessage(String(data));
        if (parsed.kind !== 'message' || parsed.message.type !== 'stage-step') return;
        const m = parsed.message;
        if (!m.auth || this.grants.get(`${m.manifest} ${m.index} ${m.session}`) !== m.auth) {
          if (this.toServer) this.toServer({ type: 'stage-error', id: m.id, code: 'STAGE__BAD_INPUT', message: 'a direct step without this session’s grant', stage: m.index });
          return;
        }
        if (this.toServer) this.handle(m, this.toServer);
      });
    });
    this.server = server;
    const address = server.address();
    return `ws://${host.includes(':') ? `[${host}]` : host}:${typeof address === 'object' && address ? address.port : port}`;
  }

  private peer(url: string): { ws: WebSocket; open: Promise<void> } {
    const known = this.peers.get(url);
    if (known && known.ws.readyState <= WebSocket.OPEN) return known;
    const ws = new WebSocket(url, { maxPayload: 64 * 1024 * 1024 });
    const open = new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('close', () => reject(new Error(`the agent at ${url} closed the connection`)));
    });
    open.catch(() => undefined);
    ws.on('error', () => undefined);
    ws.on('close', () => this.peers.get(url)?.ws === ws && this.peers.delete(url));
    const entry = { ws, open };
    this.peers.set(url, entry);
    return entry;
  }

  /** Sends a step's output on to the next stage directly; a hop that cannot be reached is the server's to hear of. */
  private forward(m: StageStepMessage, hidden: Float32Array): void {
    const [next, ...rest] = m.forward!;
    const report = (e: unknown) =>
      this.toServer?.({ type: 'stage-error', id: m.id, code: 'STAGE__FAILED', message: `the next stage could not be reached: ${e instanceof Error ? e.message : String(e)}`.slice(0, 4000), stage: next!.index });
    const peer = this.peer(next!.url);
    const step: StageStepMessage = { type: 'stage-step', id: m.id, manifest: m.manifest, index: next!.index, session: m.session, step: m.step, start: m.start, hidden: encodeFloats(hidden), auth: next!.auth, ...(rest.length ? { forward: rest } : {}), ...(m.sampling ? { sampling: m.sampling } : {}) };
    peer.open.then(() => peer.ws.send(JSON.stringify(step), (e) => e && report(e)), report);
  }

  announcements(): StageAnnouncement[] {
    return [...this.runners.keys()].map((index) => ({ manifest: this.folder.manifestSha256, index }));
  }

  /** Handles one stage message; answers through `send`. */
  handle(m: StageMessage, send: (message: AgentMessage) => boolean): void {
    this.toServer = send;
    if (m.type === 'stage-open') {
      if (this.grants.size >= GRANTS_KEPT) this.grants.delete(this.grants.keys().next().value!);
      this.grants.set(`${m.manifest} ${m.index} ${m.session}`, m.auth);
      return;
    }
    if (m.type === 'need-manifest') {
      if (m.manifest === this.folder.manifestSha256) send({ type: 'manifest', manifest: this.folder.manifest, tokenizer: this.folder.tokenizer });
      return;
    }
    const runner = m.manifest === this.folder.manifestSha256 ? this.runners.get(m.index) : undefined;
    if (m.type === 'stage-close') {
      runner?.close(m.session);
      this.grants.delete(`${m.manifest} ${m.index} ${m.session}`);
      return;
    }
    if (!runner) {
      send({ type: 'stage-error', id: m.id, code: 'STAGE__NOT_HELD', message: `this agent does not hold stage ${m.index} of ${m.manifest.slice(0, 12)}` });
      return;
    }
    const started = performance.now();
    let hidden: Float32Array | undefined;
    try {
      hidden = m.hidden === undefined ? undefined : decodeFloats(m.hidden);
    } catch (e) {
      send({ type: 'stage-error', id: m.id, code: 'STAGE__BAD_INPUT', message: e instanceof Error ? e.message : String(e) });
      return;
    }
    runner
      .step({ session: m.session, step: m.step, start: m.start, ...(m.tokens ? { tokens: m.tokens } : {}), ...(hidden ? { hidden } : {}), ...(m.sampling ? { sampling: m.sampling } : {}) })
      .then(async (honest) => {
        if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
        const out = this.corrupt ? ('token' in honest ? { token: (honest.token + 1) % this.folder.manifest.vocab } : { hidden: honest.hidden.map((v, i) => (i === 0 ? v + 1 : v)) }) : honest;
        const ms = Math.round((performance.now() - started) * 1000) / 1000;
        if (m.forward?.length && 'hidden' in out) return this.forward(m, out.hidden);
        send('token' in out ? { type: 'stage-output', id: m.id, token: out.token, ms } : { type: 'stage-output', id: m.id, hidden: encodeFloats(out.hidden), ms });
      })
      .catch((e: unknown) => {
        const code = e instanceof StageStepError ? e.code : 'STAGE__FAILED';
        send({ type: 'stage-error', id: m.id, code, message: e instanceof Error ? e.message.slice(0, 4000) : String(e) });
      });
  }

  async release(): Promise<void> {
    for (const p of this.peers.values()) p.ws.terminate();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    for (const r of this.runners.values()) await r.release();
  }
}
