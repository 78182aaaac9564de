/**
 * Chat completions served by the market's agents (collaborative inference, DESIGN.md section 10).
 * Agents announce the stages they hold in hello; the first time a manifest is seen, its holder is
 * asked for it and its tokenizer (checked against their hashes, kept in SQLite and R2). A completion
 * tokenizes the conversation, takes one holder per stage (domain/chat/rules.ts chooseHolder: the
 * measured fastest), and runs domain/chat/generation.ts over the agents' sockets, relaying each
 * step's hidden state from stage to stage. A holder whose socket closes, that answers with an error
 * or that does not answer in time is replaced by another, which replays the session's steps.
 *
 * Prompts and completions live only in memory for the request: nothing here writes them anywhere.
 */
import type { ManifestMessage, ServerMessage, StageErrorMessage, StageOutputMessage } from '../contracts/agent.ts';
import { decodeFloats, encodeFloats, manifestProblem, manifestSha256, type ChatEvent, type ChatManifest, type ChatFaultView, type ChatModelView, type ChatRequest, type RouteStage, type StageAnnouncement } from '../contracts/chat.ts';
import { sha256Hex, encodeBase58Nonce } from '../contracts/auth.ts';
import { Tokenizer, type TokenizerJson } from '../contracts/tokenizer.ts';
import { generate, RouteFailedError, type StageInput, type StageLink, type StageOutput } from '../domain/chat/generation.ts';
import type { Sampling } from '../domain/chat/sampling.ts';
import { atFault, chatSlashEvidence, checkedCompletion, firstDifference, type ChatFault } from '../domain/chat/verification.ts';
import { slashStepProblem, type SlashOutcome, type SlashStep } from '../domain/slash.ts';
import { slashingFor } from './chain.ts';
import { SlashDriver, type SlashCase } from './slash-driver.ts';
import type { Slashing } from '../../programs/client/slashing.ts';
import { CHAT_RULES, chooseHolder, completionBudget, modelMatches, nextLatency, promptText, TextStream, type HolderView } from '../domain/chat/rules.ts';
import { domainError } from '../domain/errors.ts';
import type { Result } from '../domain/result.ts';
import { tokenizerKey } from './blob-keys.ts';
import type { Env } from './env.ts';
import { accountObject } from './objects.ts';
import { chatCharge, chatHold, chatPayouts, stageShares } from '../domain/chat/pricing.ts';

/** A connected agent that holds chat stages. */
export interface StageHolder {
  socketId: string;
  agentKey: string;
  provider: string;
  askId: string;
  /** Its runtime fingerprint: holders of one stage with equal fingerprints give equal bits. */
  fingerprint: string;
  stages: StageAnnouncement[];
  /** Where other agents reach it directly, if it takes direct steps. */
  direct?: string;
}

interface Pending {
  /** The socket whose answer settles it (direct mode: the last stage's). */
  socketId: string;
  /** Every socket whose loss or error fails it. */
  sockets: ReadonlySet<string>;
  resolve: (out: StageOutput) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
  sentAt: number;
  agentKey: string;
}

class StageFailure extends Error {}

export class ChatRouter {
  private readonly pending = new Map<string, Pending>();
  /** Measured step latency by agent key (kept across its reconnects, not across the object's restarts). */
  private readonly latency = new Map<string, number>();
  private readonly tokenizers = new Map<string, Tokenizer>();
  /** `socketId manifest` pairs already asked for their manifest. */
  private readonly asked = new Set<string>();
  private chain: Slashing | null | undefined;
  /** The slashes of holders found at fault, proposed and then executed on chain (slash-driver.ts). */
  readonly slashes = new SlashDriver({
    cases: () => this.slashCases(),
    record: (agentKey, step) => this.recordSlash(agentKey, step),
    slashing: () => (this.chain === undefined ? (this.chain = slashingFor(this.env)) : this.chain),
    now: () => Date.now(),
    warn: (message) => console.warn(`chat: ${message}`),
  });

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly env: Env,
    private readonly holders: () => StageHolder[],
    private readonly send: (socketId: string, message: ServerMessage) => boolean,
    /** Asks the object around it to look at slashes.dueAt() again (a fault was found). */
    private readonly wake: () => void,
  ) {
    ctx.storage.sql.exec(`
      CREATE TABLE IF NOT EXISTS chat_manifests (sha256 TEXT PRIMARY KEY, name TEXT NOT NULL, data TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS chat_holds (hold_id TEXT PRIMARY KEY, account TEXT NOT NULL, at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS chat_faults (agent_key TEXT PRIMARY KEY, at INTEGER NOT NULL, manifest TEXT NOT NULL, stage INTEGER NOT NULL, evidence TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS chat_slashes (agent_key TEXT PRIMARY KEY, provider TEXT NOT NULL, outcome TEXT NOT NULL, proposal INTEGER, amount TEXT, executable_at INTEGER, reason TEXT);
    `);
  }

  /**
   * Holds of completions that never ended (the object restarted under them) go back to their
   * buyers once they are older than any completion can run.
   */
  async releaseStale(now: number): Promise<void> {
    const stale = this.ctx.storage.sql.exec<{ hold_id: string; account: string }>('SELECT hold_id, account FROM chat_holds WHERE at < ?', now - CHAT_RULES.staleHoldMs).toArray();
    for (const h of stale) await this.endHold(h.hold_id, h.account, null, now);
  }

  /** Settles a completion's hold with its payouts (or releases it whole: null), and forgets it. */
  private async endHold(holdId: string, account: string, settle: { payouts: { account: string; amount: bigint; fee: bigint }[]; fee: bigint } | null, now: number): Promise<void> {
    const command = settle ? { type: 'SettleHold' as const, holdId, account, payouts: settle.payouts, fee: settle.fee } : { type: 'ReleaseHold' as const, holdId };
    const r = await accountObject(this.env, account).execute(account, command, { commandId: `${command.type}:${holdId}`, actor: 'system:chat', now });
    if (!r.ok) console.warn(`chat hold ${holdId} of ${account} could not be ended (${r.error.code}): ${r.error.message}`);
    this.ctx.storage.sql.exec('DELETE FROM chat_holds WHERE hold_id = ?', holdId);
  }

  private manifest(sha: string): ChatManifest | null {
    const row = this.ctx.storage.sql.exec<{ data: string }>('SELECT data FROM chat_manifests WHERE sha256 = ?', sha).toArray()[0];
    return row ? (JSON.parse(row.data) as ChatManifest) : null;
  }

  /** An agent said hello with stages: manifests not yet known are asked for. */
  announced(socketId: string, stages: StageAnnouncement[]): void {
    // One found at fault is told again why it gets no chat steps.
    const agentKey = this.holders().find((h) => h.socketId === socketId)?.agentKey;
    const fault = agentKey ? this.ctx.storage.sql.exec<{ evidence: string }>('SELECT evidence FROM chat_faults WHERE agent_key = ?', agentKey).toArray()[0] : undefined;
    if (fault) this.tellAtFault(socketId, JSON.parse(fault.evidence) as Partial<ChatFault>);
    for (const sha of new Set(stages.map((s) => s.manifest))) {
      if (this.manifest(sha) || this.asked.has(`${socketId} ${sha}`)) continue;
      this.asked.add(`${socketId} ${sha}`);
      this.send(socketId, { type: 'need-manifest', manifest: sha });
    }
  }

  /** A manifest an agent sent: stored when it is one that socket announced and it checks out; otherwise the refusal's words. */
  async received(socketId: string, msg: ManifestMessage): Promise<string | null> {
    const sha = await manifestSha256(msg.manifest);
    if (!this.asked.has(`${socketId} ${sha}`)) return `manifest ${sha.slice(0, 12)} was not asked of this agent`;
    const problem = manifestProblem(msg.manifest);
    if (problem) return `the manifest is inconsistent: ${problem}`;
    const bytes = new TextEncoder().encode(msg.tokenizer);
    if ((await sha256Hex(bytes)) !== msg.manifest.tokenizerSha256) return "the tokenizer is not the manifest's (its SHA-256 differs)";
    try {
      const t = new Tokenizer(JSON.parse(msg.tokenizer) as TokenizerJson);
      if (t.vocabSize > msg.manifest.vocab) return `the tokenizer has ${t.vocabSize} tokens, the model ${msg.manifest.vocab}`;
      this.tokenizers.set(msg.manifest.tokenizerSha256, t);
    } catch (e) {
      return `the tokenizer cannot be read: ${e instanceof Error ? e.message : String(e)}`;
    }
    await this.env.BLOBS.put(tokenizerKey(msg.manifest.tokenizerSha256), bytes);
    this.ctx.storage.sql.exec('INSERT OR IGNORE INTO chat_manifests (sha256, name, data) VALUES (?, ?, ?)', sha, msg.manifest.name, JSON.stringify(msg.manifest));
    return null;
  }

  /** A stage's answer to a step. */
  answered(socketId: string, msg: StageOutputMessage | StageErrorMessage): void {
    const p = this.pending.get(msg.id);
    if (!p || !p.sockets.has(socketId) || (msg.type === 'stage-output' && p.socketId !== socketId)) return;
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.type === 'stage-error') return p.reject(new StageFailure(`${msg.code}: ${msg.message}`));
    if (p.sockets.size === 1) this.latency.set(p.agentKey, nextLatency(this.latency.get(p.agentKey), Date.now() - p.sentAt));
    if (msg.token !== undefined) return p.resolve({ token: msg.token });
    try {
      p.resolve({ hidden: decodeFloats(msg.hidden ?? '') });
    } catch (e) {
      p.reject(new StageFailure(`the hidden state cannot be read: ${e instanceof Error ? e.message : String(e)}`));
    }
  }

  /** A socket closed: its steps in flight fail now (their stages are replaced at once). */
  gone(socketId: string): void {
    for (const [id, p] of this.pending) {
      if (!p.sockets.has(socketId)) continue;
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new StageFailure('the agent disconnected'));
    }
    for (const key of this.asked) if (key.startsWith(`${socketId} `)) this.asked.delete(key);
  }

  /** The models the connected agents hold, by manifest. */
  models(): ChatModelView[] {
    const byManifest = new Map<string, number[]>();
    const faulty = this.faulty();
    for (const h of this.holders()) {
      if (faulty.has(h.agentKey)) continue;
      for (const s of h.stages) {
        const counts = byManifest.get(s.manifest) ?? [];
        counts[s.index] = (counts[s.index] ?? 0) + 1;
        byManifest.set(s.manifest, counts);
      }
    }
    const out: ChatModelView[] = [];
    for (const [sha, counts] of byManifest) {
      const m = this.manifest(sha);
      if (!m) continue;
      const holders = m.stages.map((_, i) => counts[i] ?? 0);
      out.push({ id: m.name, manifest: sha, stages: m.stages.length, layers: m.layers, maxPositions: m.maxPositions, holders, servable: holders.every((n) => n > 0) });
    }
    return out.sort((a, b) => a.id.localeCompare(b.id) || a.stages - b.stages || a.manifest.localeCompare(b.manifest));
  }

  private async tokenizer(m: ChatManifest): Promise<Tokenizer> {
    const known = this.tokenizers.get(m.tokenizerSha256);
    if (known) return known;
    const blob = await this.env.BLOBS.get(tokenizerKey(m.tokenizerSha256));
    if (!blob) throw new Error(`the tokenizer of ${m.name} is not stored`);
    const t = new Tokenizer((await blob.json()) as TokenizerJson);
    this.tokenizers.set(m.tokenizerSha256, t);
    return t;
  }

  /** The connected holders of one stage, none found at fault, each with its measured latency. */
  private holdersOf(manifest: string, index: number): (HolderView & StageHolder)[] {
    const faulty = this.faulty();
    return this.holders()
      .filter((h) => !faulty.has(h.agentKey) && h.stages.some((s) => s.manifest === manifest && s.index === index))
      .map((h) => ({ ...h, ...(this.latency.has(h.agentKey) ? { latencyMs: this.latency.get(h.agentKey)! } : {}) }));
  }

  private candidates(manifest: string, index: number, exclude: ReadonlySet<string>): (HolderView & StageHolder) | null {
    return chooseHolder(this.holdersOf(manifest, index), exclude);
  }

  /** The fastest complete route for a model name: its manifest and one holder per stage, or null. */
  private route(model: string, exclude: ReadonlySet<string>): { manifest: ChatManifest; sha: string; holders: StageHolder[] } | null {
    let best: { manifest: ChatManifest; sha: string; holders: StageHolder[]; cost: number } | null = null;
    for (const view of this.models()) {
      if (!modelMatches(model, view.id, view.manifest) || !view.servable) continue;
      const manifest = this.manifest(view.manifest)!;
      const holders = manifest.stages.map((_, i) => this.candidates(view.manifest, i, exclude));
      if (holders.some((h) => h === null)) continue;
      const cost = holders.reduce((sum, h) => sum + (this.latency.get(h!.agentKey) ?? 0), 0);
      if (!best || cost < best.cost) best = { manifest, sha: view.manifest, holders: holders as StageHolder[], cost };
    }
    return best;
  }

  /**
   * Sends a stage step (built around its id) to `to`, and answers with the output `answerer` sends
   * back; an error from, or the loss of, any of `route` fails it, and so does silence past the
   * step timeout.
   */
  private request(to: StageHolder, answerer: StageHolder, route: readonly StageHolder[], step: (id: string) => ServerMessage): Promise<StageOutput> {
    return new Promise<StageOutput>((resolve, reject) => {
      const id = encodeBase58Nonce();
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new StageFailure(`no answer in ${CHAT_RULES.stepTimeoutMs} ms`));
      }, CHAT_RULES.stepTimeoutMs);
      this.pending.set(id, { socketId: answerer.socketId, sockets: new Set(route.map((h) => h.socketId)), resolve, reject, timer, sentAt: Date.now(), agentKey: answerer.agentKey });
      if (!this.send(to.socketId, step(id))) {
        this.pending.delete(id);
        clearTimeout(timer);
        reject(new StageFailure('the agent is not connected'));
      }
    });
  }

  private link(holder: StageHolder, manifest: string, index: number): StageLink {
    return {
      holder: holder.agentKey,
      step: (input: StageInput) =>
        this.request(holder, holder, [holder], (id) => ({
          type: 'stage-step',
          id,
          manifest,
          index,
          session: input.session,
          step: input.step,
          start: input.start,
          ...(input.tokens ? { tokens: input.tokens } : {}),
          ...(input.hidden ? { hidden: encodeFloats(input.hidden) } : {}),
          ...(input.sampling ? { sampling: input.sampling } : {}),
        })),
      close: (session: string) => void this.send(holder.socketId, { type: 'stage-close', manifest, index, session }),
    };
  }

  /**
   * Direct mode for one step (domain/chat/generation.ts `pipeline`): when every stage after the
   * first takes direct steps, the first is sent the step with the others' addresses and grants, and
   * the last answers with the token. Null when some stage cannot be reached directly.
   */
  private pipeline(sha: string, holders: StageHolder[], granted: Map<string, string>): (input: StageInput) => Promise<StageOutput | null> {
    return async (input) => {
      if (holders.slice(1).some((h) => !h.direct)) return null;
      const forward = holders.slice(1).map((h, k) => {
        const index = k + 1;
        const grant = `${index} ${h.socketId}`;
        let auth = granted.get(grant);
        if (!auth) {
          auth = encodeBase58Nonce();
          granted.set(grant, auth);
          this.send(h.socketId, { type: 'stage-open', manifest: sha, index, session: input.session, auth });
        }
        return { url: h.direct!, index, auth };
      });
      const step = { manifest: sha, index: 0, session: input.session, step: input.step, start: input.start, tokens: input.tokens!, ...(input.sampling ? { sampling: input.sampling } : {}), forward };
      return this.request(holders[0]!, holders.at(-1)!, holders, (id) => ({ type: 'stage-step', id, ...step }));
    };
  }

  /**
   * Runs one completion over `holders` (updated in place when a stage is replaced): its tokens, the
   * digest of each stage's output at each step, how many steps went agent to agent, and with
   * `record` each stage's inputs (for a tie-breaker). `onToken` answers whether to stop.
   */
  private async runRoute(
    sha: string,
    holders: StageHolder[],
    request: { session: string; prompt: number[]; maxTokens: number; sampling: Sampling },
    o: { exclude: Set<string>; record: boolean; onToken?: (token: number) => Promise<boolean>; onReplaced?: (index: number, holder: StageHolder, steps: number) => void },
  ): Promise<{ tokens: number[]; digests: string[][]; inputs: StageInput[][] | null; directSteps: number }> {
    const links = holders.map((h, i) => this.link(h, sha, i));
    const steps: string[][] = holders.map(() => []);
    const inputs: StageInput[][] | null = o.record ? holders.map(() => []) : null;
    let replacements = 0;
    // Direct steps when the route allows them; never for a completion being recorded for verification (its hidden states must pass here).
    const direct = !o.record && holders.length > 1 ? this.pipeline(sha, holders, new Map()) : null;
    let directSteps = 0;
    const pipeline = direct
      ? async (input: StageInput) => {
          const out = await direct(input);
          if (out) directSteps++;
          return out;
        }
      : null;
    const hooks = {
      ...(pipeline ? { pipeline } : {}),
      replace: async (index: number) => {
        o.exclude.add(holders[index]!.socketId);
        if (++replacements > CHAT_RULES.maxReplacements) return null;
        const until = Date.now() + CHAT_RULES.replaceWaitMs;
        for (;;) {
          const next = this.candidates(sha, index, o.exclude);
          if (next) {
            holders[index] = next;
            return this.link(next, sha, index);
          }
          if (Date.now() >= until) return null;
          await new Promise((r) => setTimeout(r, 100));
        }
      },
      replaced: (index: number, _link: StageLink, n: number) => o.onReplaced?.(index, holders[index]!, n),
      observe: async (index: number, input: StageInput, output: StageOutput) => {
        steps[index]!.push(await sha256Hex(outputBytes(output)));
        inputs?.[index]!.push(input);
      },
    };
    const tokens: number[] = [];
    for await (const token of generate(links, request, hooks)) {
      tokens.push(token);
      if (o.onToken && (await o.onToken(token))) break;
    }
    return { tokens, digests: steps, inputs, directSteps };
  }

  /** The open slashes of holders found at fault, with their evidence (a fault recorded before slashes were kept has none). */
  private slashCases(): SlashCase[] {
    return this.ctx.storage.sql
      .exec<{ agent_key: string; provider: string; outcome: string; proposal: number | null; evidence: string }>(
        "SELECT s.agent_key, s.provider, s.outcome, s.proposal, f.evidence FROM chat_slashes s JOIN chat_faults f ON f.agent_key = s.agent_key WHERE s.outcome IN ('pending', 'proposed')",
      )
      .toArray()
      .map((r) => ({
        id: r.agent_key,
        provider: r.provider,
        outcome: r.outcome as 'pending' | SlashOutcome,
        proposal: r.proposal,
        evidence: () => {
          const fault = JSON.parse(r.evidence) as Partial<ChatFault>;
          return fault.side ? chatSlashEvidence(fault as ChatFault) : null;
        },
      }));
  }

  /** Tells a holder found at fault why it gets no chat steps (a fault recorded before slashes were kept names less). */
  private tellAtFault(socketId: string, f: Partial<ChatFault>): string {
    const told = domainError('CHAT__HOLDER_AT_FAULT', { stage: f.stage ?? '?', step: f.step ?? '?', manifest: f.manifest ?? '?', provider: f.provider ?? '?' });
    this.send(socketId, { type: 'error', code: told.code, message: told.message });
    return told.message;
  }

  /** Records a step of a holder's slash (the slash driver's). */
  private recordSlash(agentKey: string, step: SlashStep): Result<null> {
    const row = this.ctx.storage.sql.exec<{ outcome: string; proposal: number | null }>('SELECT outcome, proposal FROM chat_slashes WHERE agent_key = ?', agentKey).toArray()[0];
    if (!row) return { ok: false, error: domainError('CHAT__SLASH_NOT_FOUND', { agentKey }) };
    const problem = slashStepProblem(row.outcome as 'pending' | SlashOutcome, row.proposal, step);
    if (problem) return { ok: false, error: 'from' in problem ? domainError('CHAT__SLASH_TRANSITION', problem) : domainError('CHAT__SLASH_INVALID', problem) };
    if (row.outcome !== step.outcome) {
      const proposed = step.outcome === 'proposed';
      this.ctx.storage.sql.exec(
        'UPDATE chat_slashes SET outcome = ?, proposal = COALESCE(?, proposal), amount = COALESCE(?, amount), executable_at = COALESCE(?, executable_at), reason = ? WHERE agent_key = ?',
        step.outcome,
        step.proposal ?? null,
        proposed ? step.amount!.toString() : null,
        proposed ? step.executableAt! : null,
        step.reason ?? null,
        agentKey,
      );
    }
    return { ok: true, value: null };
  }

  /** The holders found at fault and their slashes, newest first: public (agent keys, providers, digests). */
  faults(): ChatFaultView[] {
    return this.ctx.storage.sql
      .exec<{ agent_key: string; at: number; manifest: string; stage: number; provider: string | null; outcome: string | null; proposal: number | null; amount: string | null; executable_at: number | null; reason: string | null }>(
        'SELECT f.agent_key, f.at, f.manifest, f.stage, s.provider, s.outcome, s.proposal, s.amount, s.executable_at, s.reason FROM chat_faults f LEFT JOIN chat_slashes s ON s.agent_key = f.agent_key ORDER BY f.at DESC LIMIT ?',
        CHAT_RULES.faultsListed,
      )
      .toArray()
      .map((r) => ({ agentKey: r.agent_key, at: r.at, manifest: r.manifest, stage: r.stage, provider: r.provider, slash: r.outcome === null ? null : { outcome: r.outcome as 'pending' | SlashOutcome, proposal: r.proposal, amount: r.amount, executableAt: r.executable_at, reason: r.reason } }));
  }

  /** Agents proven wrong by a verification: out of routing. */
  private faulty(): Set<string> {
    return new Set(this.ctx.storage.sql.exec<{ agent_key: string }>('SELECT agent_key FROM chat_faults').toArray().map((r) => r.agent_key));
  }

  /**
   * Re-runs a served completion on a route of other agents and, where a stage's outputs differ, on a
   * third holder of that stage (domain/chat/verification.ts). Answers whether the served route was
   * at fault; records whoever was (their agent key and the digests: no payload).
   */
  private async verify(sha: string, manifest: ChatManifest, served: { holders: StageHolder[]; tokens: number[]; digests: string[][]; inputs: StageInput[][] }, request: { prompt: number[]; sampling: Sampling }): Promise<'served' | 'check' | 'undecided' | 'agreed' | 'unchecked'> {
    const used = new Set(served.holders.map((h) => h.agentKey));
    // Only holders with the served stage's runtime fingerprint can be held to its bits.
    const others = (index: number, also: Set<string>) => this.holdersOf(sha, index).filter((h) => !also.has(h.agentKey) && h.fingerprint === served.holders[index]!.fingerprint);
    const route: StageHolder[] = [];
    for (let i = 0; i < manifest.stages.length; i++) {
      const h = chooseHolder(others(i, used));
      if (!h) return 'unchecked';
      route.push(h);
    }
    const session = `check_${encodeBase58Nonce()}`;
    const check = await this.runRoute(sha, route, { session, prompt: request.prompt, maxTokens: served.tokens.length, sampling: request.sampling }, { exclude: new Set(), record: false });
    const dispute = firstDifference(served.digests, check.digests);
    if (dispute === null) return 'agreed';
    const { stage, step } = dispute;
    // The tie-breaker: a third holder of the disputed stage, given the inputs both runs gave it up to that step.
    const third = others(stage, new Set([...used, ...route.map((h) => h.agentKey)]))[0];
    let tie: string | null = null;
    if (third) {
      const link = this.link(third, sha, stage);
      const tieSession = `tie_${encodeBase58Nonce()}`;
      try {
        for (const input of served.inputs[stage]!.slice(0, step + 1)) tie = await sha256Hex(outputBytes(await link.step({ ...input, session: tieSession })));
      } catch {
        tie = null;
      } finally {
        link.close(tieSession);
      }
    }
    const verdict = atFault(served.digests[stage]![step]!, check.digests[stage]![step]!, tie);
    const guilty = verdict === 'served' ? served.holders[stage] : verdict === 'check' ? route[stage] : undefined;
    if (guilty && tie !== null) {
      const fault: ChatFault = { manifest: sha, stage, step, agentKey: guilty.agentKey, provider: guilty.provider, side: verdict === 'served' ? 'served' : 'check', served: served.digests[stage]![step]!, check: check.digests[stage]![step]!, tieBreaker: tie };
      this.ctx.storage.sql.exec('INSERT OR REPLACE INTO chat_faults (agent_key, at, manifest, stage, evidence) VALUES (?, ?, ?, ?, ?)', guilty.agentKey, Date.now(), sha, stage, JSON.stringify(fault));
      this.ctx.storage.sql.exec("INSERT OR IGNORE INTO chat_slashes (agent_key, provider, outcome) VALUES (?, ?, 'pending')", guilty.agentKey, guilty.provider);
      console.warn(`chat verification: agent ${guilty.agentKey}: ${this.tellAtFault(guilty.socketId, fault)}`);
      this.wake();
    }
    return verdict;
  }

  /** Starts a completion: refused at once (unknown model, too long), or its events as a stream of JSON lines. */
  async chat(request: ChatRequest, terms: { tokenPrice: number; feeBps: number; verifyBps: number }): Promise<Result<ReadableStream<Uint8Array>>> {
    void this.releaseStale(Date.now());
    const exclude = new Set<string>();
    const chosen = this.route(request.model, exclude);
    if (!chosen) return { ok: false, error: domainError('CHAT__UNKNOWN_MODEL', { model: request.model }) };
    const { manifest, sha } = chosen;
    const tokenizer = await this.tokenizer(manifest);
    const prompt = tokenizer.encode(promptText(request.messages));
    const { maxTokens, fits } = completionBudget(prompt.length, request.maxTokens, manifest.maxPositions);
    if (!fits) return { ok: false, error: domainError('CHAT__PROMPT_TOO_LONG', { promptTokens: prompt.length, maxTokens, model: request.model, limit: manifest.maxPositions }) };
    const session = `chat_${encodeBase58Nonce()}`;
    const { payer } = request;
    const hold = chatHold(prompt.length, maxTokens, terms.tokenPrice);
    if (hold > 0n) {
      const held = await accountObject(this.env, payer.account).execute(payer.account, { type: 'Hold', holdId: session, amount: hold, apiKeyId: payer.apiKeyId }, { commandId: `hold:${session}`, actor: payer.account, now: Date.now() });
      if (!held.ok) return held;
      this.ctx.storage.sql.exec('INSERT INTO chat_holds (hold_id, account, at) VALUES (?, ?, ?)', session, payer.account, Date.now());
    }
    // A sampled completion is re-run before it is settled; its inputs are kept for a tie-breaker (within a bound on memory).
    const checked = checkedCompletion(Math.random(), terms.verifyBps, { positions: prompt.length + maxTokens, embed: manifest.embed, stages: manifest.stages.length }, CHAT_RULES.maxCheckBytes);
    const holders = [...chosen.holders];
    const routeOf = (): RouteStage[] => holders.map((h, i) => ({ stage: i, from: manifest.stages[i]!.from, to: manifest.stages[i]!.to, agentKey: h.agentKey, provider: h.provider }));
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const writer = writable.getWriter();
    const encoder = new TextEncoder();
    const emit = (e: ChatEvent) => writer.write(encoder.encode(`${JSON.stringify(e)}\n`));

    const run = async () => {
      let finishReason: 'stop' | 'length' = 'length';
      try {
        await emit({ type: 'start', model: manifest.name, manifest: sha, promptTokens: prompt.length, maxTokens, route: routeOf() });
        const text = new TextStream((ids) => tokenizer.bytes(ids), request.stop);
        const served = await this.runRoute(sha, holders, { session, prompt, maxTokens, sampling: request.sampling }, {
          exclude,
          record: checked,
          onReplaced: (stage, h, steps) => void emit({ type: 'replaced', stage, agentKey: h.agentKey, provider: h.provider, steps }),
          onToken: async (token) => {
            if (manifest.endTokens.includes(token)) {
              finishReason = 'stop';
              return true;
            }
            const { text: delta, stopped } = text.push(token);
            if (delta) await emit({ type: 'delta', text: delta, tokens: 1 });
            if (stopped) finishReason = 'stop';
            return stopped;
          },
        });
        const rest = finishReason === 'length' ? text.end() : '';
        if (rest) await emit({ type: 'delta', text: rest, tokens: 0 });
        const tokensDigest = await sha256Hex(new TextEncoder().encode(served.tokens.join(',')));
        const charge = chatCharge(prompt.length, served.tokens.length, terms.tokenPrice);
        await emit({ type: 'done', finishReason, promptTokens: prompt.length, completionTokens: served.tokens.length, route: routeOf(), tokensDigest, charge: charge.toString(), checked, directSteps: served.directSteps });
        const verdict = checked
          ? await this.verify(sha, manifest, { holders, tokens: served.tokens, digests: served.digests, inputs: served.inputs! }, { prompt, sampling: request.sampling }).catch((e: unknown) => {
              console.warn(`chat verification of ${session} could not run: ${e instanceof Error ? e.message : String(e)}`);
              return 'unchecked' as const;
            })
          : 'unchecked';
        if (hold > 0n) {
          // A completion proven wrong costs its buyer nothing.
          const shares = stageShares(manifest.stages, holders.map((h) => h.provider));
          await this.endHold(session, payer.account, verdict === 'served' ? null : chatPayouts(charge, shares, terms.feeBps), Date.now());
        }
      } catch (e) {
        if (hold > 0n && this.ctx.storage.sql.exec('SELECT 1 FROM chat_holds WHERE hold_id = ?', session).toArray().length > 0) await this.endHold(session, payer.account, null, Date.now());
        const failure = e instanceof RouteFailedError ? domainError('CHAT__ROUTE_FAILED', { stage: e.stage, model: manifest.name, problem: e.cause instanceof Error ? e.cause.message : String(e.cause) }) : null;
        await emit({ type: 'error', code: failure?.code ?? 'API__INTERNAL', message: failure?.message ?? 'the completion failed' }).catch(() => undefined);
        if (!failure) console.error(`chat completion failed: ${e instanceof Error ? e.stack : String(e)}`);
      } finally {
        await writer.close().catch(() => undefined);
      }
    };
    this.ctx.waitUntil(run());
    return { ok: true, value: readable };
  }
}

/** What a stage gave, as bytes: the hidden state's float32s, or the token as 4 little-endian bytes. */
function outputBytes(out: StageOutput): Uint8Array {
  if ('token' in out) return new Uint8Array(Uint32Array.of(out.token).buffer);
  return new Uint8Array(out.hidden.buffer, out.hidden.byteOffset, out.hidden.byteLength);
}
