/**
 * The chat stages an agent holds (`doug-agent --chat-model DIR --stages N --hold I[,J]`): loaded
 * from the model folder, announced in hello, and served as the market object sends steps
 * (contracts/agent.ts `stage-step`). A step's answer goes back on the socket it came from.
 */
import type { AgentMessage, NeedManifestMessage, StageCloseMessage, StageStepMessage } from '../../../durable-objects/contracts/agent.ts';
import { decodeFloats, encodeFloats, type StageAnnouncement } from '../../../durable-objects/contracts/chat.ts';
import { openChatFolder, type ChatFolder } from '../../models/chat-folder.ts';
import { StageRunner, StageStepError } from '../exec/stage-runner.ts';

export type StageMessage = NeedManifestMessage | StageStepMessage | StageCloseMessage;

export class StageHost {
  private constructor(
    readonly folder: ChatFolder,
    private readonly runners: Map<number, StageRunner>,
    /** TEST ONLY (DOUG_AGENT_FAULT=wrong-output): every output corrupted, to exercise verification. */
    private readonly corrupt: boolean,
  ) {}

  static async open(dir: string, o: { stages: number; hold: readonly number[]; name?: string; threads?: number; corrupt?: boolean }): Promise<StageHost> {
    const folder = await openChatFolder(dir, o.stages, o.name);
    const m = folder.manifest;
    const runners = new Map<number, StageRunner>();
    for (const index of o.hold) {
      const stage = m.stages[index];
      if (!stage) throw new Error(`--hold ${index}: the model is cut into ${m.stages.length} stage(s), 0 to ${m.stages.length - 1}`);
      const shape = { from: stage.from, to: stage.to, layers: m.layers, heads: m.heads, headDim: m.embed / m.heads, embed: m.embed, vocab: m.vocab };
      runners.set(index, await StageRunner.load(folder.stages[index]!, shape, { threads: o.threads ?? 1 }));
    }
    return new StageHost(folder, runners, o.corrupt === true);
  }

  announcements(): StageAnnouncement[] {
    return [...this.runners.keys()].map((index) => ({ manifest: this.folder.manifestSha256, index }));
  }

  /** Handles one stage message; answers through `send`. */
  handle(m: StageMessage, send: (message: AgentMessage) => boolean): void {
    if (m.type === 'need-manifest') {
      if (m.manifest === this.folder.manifestSha256) send({ type: 'manifest', manifest: this.folder.manifest, tokenizer: this.folder.tokenizer });
      return;
    }
    const runner = m.manifest === this.folder.manifestSha256 ? this.runners.get(m.index) : undefined;
    if (m.type === 'stage-close') {
      runner?.close(m.session);
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
      .then((honest) => {
        const out = this.corrupt ? ('token' in honest ? { token: (honest.token + 1) % this.folder.manifest.vocab } : { hidden: honest.hidden.map((v, i) => (i === 0 ? v + 1 : v)) }) : honest;
        const ms = Math.round((performance.now() - started) * 1000) / 1000;
        send('token' in out ? { type: 'stage-output', id: m.id, token: out.token, ms } : { type: 'stage-output', id: m.id, hidden: encodeFloats(out.hidden), ms });
      })
      .catch((e: unknown) => {
        const code = e instanceof StageStepError ? e.code : 'STAGE__FAILED';
        send({ type: 'stage-error', id: m.id, code, message: e instanceof Error ? e.message.slice(0, 4000) : String(e) });
      });
  }

  async release(): Promise<void> {
    for (const r of this.runners.values()) await r.release();
  }
}
