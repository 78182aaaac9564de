/**
 * Chat benchmark (collaborative inference): tokens/s and time to first token through `npm start`'s
 * stack (wrangler dev, real workerd) with real `doug-agent` processes holding 1, 2 and 3 stages of
 * a model, against the whole model run in this process (the same StageRunner, no network), in the
 * same run; the recovery after a killed stage; the relay's cost per token per hop; and a soak that
 * kills a random stage at a random token and brings it back, checking every completion against the
 * unbroken one and that no holder is ever counted twice; and the router's choice among holders of
 * one stage that differ in speed (a slower holder of each stage joins: the chosen route's tokens/s
 * against the best route's).
 *
 * Decode speed is (completion tokens − 1) / (time of the last delta − time of the first): prefill
 * is in the time to first token. Sizes: `small` is the shipped model (examples/chat: about 1 ms a
 * token here), `medium` and `large` the same shape 4× and 8× wider (random weights): the ratio to
 * local moves with the cost of a token, since the relay's cost per hop is fixed.
 *
 *   node --import tsx test/bench/chat.ts [--quick] [--sizes large,medium] [--kills N]
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeypair } from '../../durable-objects/contracts/auth.ts';
import { Tokenizer, type TokenizerJson } from '../../durable-objects/contracts/tokenizer.ts';
import { generate } from '../../durable-objects/domain/chat/generation.ts';
import { GREEDY } from '../../durable-objects/domain/chat/sampling.ts';
import { UNITS_PER_DOUG } from '../../durable-objects/domain/money.ts';
import { openChatFolder } from '../../gpu-agent/models/chat-folder.ts';
import { buildDecoderModel } from '../../gpu-agent/models/decoder.ts';
import { StageRunner, stageShape } from '../../gpu-agent/src/exec/stage-runner.ts';
import { chatStream } from '../../sdk/chat.ts';
import { DougClient } from '../../sdk/client.ts';
import { eventually, startAgent, type AgentProcess } from '../e2e/agents.ts';
import { startStack, type Stack } from '../e2e/stack.ts';
import { benchStateRoot, median, printResult } from './harness.ts';

/** The shipped model's shape, 1×, 4× and 8× as wide (about 1, 5 and 20 ms a token here). */
const WIDTHS = { small: 1, medium: 4, large: 8 } as const;
export type ChatBenchSize = keyof typeof WIDTHS;

export interface ChatBenchOptions {
  /** Completion tokens per timed request (default 96). */
  tokens?: number;
  /** Timed requests per cut (default 3; the median is reported). */
  runs?: number;
  /** Kill-and-rejoin cycles of the soak (default 50). */
  kills?: number;
  /** Model sizes, the first giving the headline figures (default medium, then small and large). */
  sizes?: ChatBenchSize[];
  log?: (line: string) => void;
}

/** How much later a slow holder answers each step than a fast one (DOUG_AGENT_STAGE_DELAY_MS). */
const SLOW_STAGE_MS = 20;

const PROMPT = 'It is a truth universally acknowledged, that a single man in possession of a good fortune,';
const MODEL = 'doug-austen';

interface Timed {
  text: string;
  tokens: number;
  ttftMs: number;
  tokensPerS: number;
  route: string[];
  replaced: number;
  /** Longest wait between two deltas, and when the deltas came (ms from the request). */
  maxGapMs: number;
}

/** A model folder of the shipped shape `width`× wider (random weights), with the shipped tokenizer. */
function sizedFolder(dir: string, width: number): string {
  if (width === 1) return 'examples/chat';
  const out = join(dir, `chat-x${width}`);
  mkdirSync(out, { recursive: true });
  const embed = 128 * width;
  writeFileSync(join(out, 'model.onnx'), buildDecoderModel({ vocab: 1024, embed, heads: 4 * width, layers: 6, ffn: 4 * embed, maxPositions: 256, seed: 1 }));
  copyFileSync('examples/chat/tokenizer.json', join(out, 'tokenizer.json'));
  writeFileSync(join(out, 'config.json'), JSON.stringify({ _name_or_path: MODEL, vocab_size: 1024, hidden_size: embed, num_attention_heads: 4 * width, num_hidden_layers: 6, max_position_embeddings: 256, eos_token_id: [] }));
  return out;
}

/** The whole model in this process: decode tokens/s and time to first token. */
async function local(dir: string, tokens: number): Promise<{ tokensPerS: number; ttftMs: number }> {
  const folder = await openChatFolder(dir, 1);
  const m = folder.manifest;
  const runner = await StageRunner.load(folder.stages[0]!, stageShape(m, 0));
  const prompt = new Tokenizer(JSON.parse(folder.tokenizer) as TokenizerJson).encode(`${PROMPT}\n\n`);
  const times: number[] = [];
  const start = performance.now();
  for await (const _ of generate([{ holder: 'local', step: (i) => runner.step(i), close: (s) => runner.close(s) }], { session: `local-${start}`, prompt, maxTokens: tokens, sampling: GREEDY }, { replace: async () => null })) times.push(performance.now());
  await runner.release();
  return { tokensPerS: ((times.length - 1) * 1000) / (times.at(-1)! - times[0]!), ttftMs: times[0]! - start };
}

async function timed(stack: Stack, key: string, model: string, tokens: number, onDelta?: (count: number, route: string[]) => void): Promise<Timed> {
  const start = performance.now();
  let text = '';
  let route: string[] = [];
  let usage = 0;
  let replaced = 0;
  const deltas: number[] = [];
  for await (const chunk of chatStream(stack.url, key, { model, messages: [{ role: 'user', content: PROMPT }], max_tokens: tokens, temperature: 0 })) {
    if (chunk.doug?.route) route = chunk.doug.route.map((r) => r.agentKey);
    if (chunk.doug?.replaced) replaced = chunk.doug.replaced.length;
    if (chunk.usage) usage = chunk.usage.completion_tokens;
    if (chunk.content) {
      text += chunk.content;
      deltas.push(performance.now());
      onDelta?.(deltas.length, route);
    }
  }
  let maxGapMs = 0;
  for (let i = 1; i < deltas.length; i++) maxGapMs = Math.max(maxGapMs, deltas[i]! - deltas[i - 1]!);
  return { text, tokens: usage, ttftMs: deltas[0]! - start, tokensPerS: ((usage - 1) * 1000) / (deltas.at(-1)! - deltas[0]!), route, replaced, maxGapMs };
}

export async function runChatBench(o: ChatBenchOptions = {}): Promise<Record<string, number>> {
  const log = o.log ?? ((line: string) => console.error(line));
  const tokens = o.tokens ?? 96;
  const runs = o.runs ?? 3;
  const kills = o.kills ?? 50;
  const sizes = o.sizes ?? ['medium', 'small', 'large'];
  const result: Record<string, number> = {};
  let stack: Stack | null = null;
  const agents = new Map<string, AgentProcess>();
  try {
    // No verification re-runs: they would load the agents during the timed requests (and a recorded completion is always relayed).
    stack = await startStack({ chain: false, tmp: benchStateRoot(), markets: JSON.stringify([{ id: 'cpu', description: 'cpu', params: { chatVerifyBps: 0 } }]) });
    const buyer = new DougClient({ baseUrl: stack.url, keypair: await generateKeypair() });
    await buyer.faucet(1_000n * UNITS_PER_DOUG);
    const key = (await buyer.createApiKey({ name: 'bench', limit: 1_000n * UNITS_PER_DOUG, expiresAt: Date.now() + 6 * 3600_000 })).key;
    const models = async () => ((await (await fetch(`${stack!.url}/v1/models`)).json()) as { data: { id: string; routes: { manifest: string; stages: number; holders: number[] }[] }[] }).data.find((d) => d.id === MODEL)?.routes ?? [];
    const agentLogs = () => [...agents.values()].map((a) => a.log()).join('\n');
    const start = (name: string, dir: string, stages: number, hold: number, keypair?: AgentProcess['key'], direct = false, stageDelayMs = 0) =>
      startAgent({ url: stack!.url, dir: stack!.dir, name, market: 'cpu', price: '0.001', stageDelayMs, args: ['--chat-model', dir, '--stages', String(stages), '--hold', String(hold), '--quiet', ...(direct ? ['--direct-port', '0'] : [])], ...(keypair ? { key: keypair } : {}) }).then((a) => {
        agents.set(name, a);
        return a;
      });
    const stopAll = async () => {
      await Promise.all([...agents.values()].map((a) => a.stop().catch(() => undefined)));
      agents.clear();
      await eventually(async () => (await models()).length === 0, 'the agents to leave routing', 60_000);
    };

    for (const [n, size] of sizes.entries()) {
      const suffix = n === 0 ? '' : `_${size}`;
      const dir = sizedFolder(stack.dir, WIDTHS[size]);
      const baseline = await local(dir, tokens);
      log(`chat ${size}: local ${baseline.tokensPerS.toFixed(1)} tokens/s`);
      // One agent for the whole model, two for the 2-stage cut, three for the 3-stage cut, and (first size) a spare for each stage of the 3-stage cut.
      const plan: [string, number, number][] = [['whole', 1, 0], ['two-0', 2, 0], ['two-1', 2, 1], ['three-0', 3, 0], ['three-1', 3, 1], ['three-2', 3, 2]];
      if (n === 0) plan.push(['spare-0', 3, 0], ['spare-1', 3, 1], ['spare-2', 3, 2]);
      await Promise.all(plan.map(([name, stages, hold]) => start(`${size}-${name}`, dir, stages, hold)));
      const routes = await eventually(async () => {
        const r = await models();
        return r.length === 3 && r.every((x) => x.holders.every((h) => h > 0)) && (n > 0 || r.find((x) => x.stages === 3)!.holders.every((h) => h === 2)) ? r : null;
      }, `the ${size} model's three cuts`, 120_000, agentLogs);
      const pinned = (stages: number) => `${MODEL}@${routes.find((r) => r.stages === stages)!.manifest.slice(0, 16)}`;
      const figures: Record<number, Timed[]> = { 1: [], 2: [], 3: [] };
      for (let w = 0; w < 2; w++) for (const stages of [1, 2, 3]) await timed(stack, key, pinned(stages), 8); // warm-up: every holder measured, sessions loaded
      for (let r = 0; r < runs; r++) for (const stages of [1, 2, 3]) figures[stages]!.push(await timed(stack, key, pinned(stages), tokens));
      const reference = figures[1]![0]!.text;
      if (figures[3]!.some((t) => t.text !== reference) || figures[2]!.some((t) => t.text !== reference)) throw new Error('a cut gave other tokens than the whole model');
      const tps = (stages: number) => median(figures[stages]!.map((t) => t.tokensPerS));
      result[`chat_tokens_per_s_local${suffix}`] = baseline.tokensPerS;
      result[`chat_tokens_per_s_1_stage${suffix}`] = tps(1);
      result[`chat_tokens_per_s_2_stages${suffix}`] = tps(2);
      result[`chat_tokens_per_s_3_stages${suffix}`] = tps(3);
      result[`chat_3_stages_vs_local${suffix}`] = tps(3) / baseline.tokensPerS;
      result[`chat_ttft_p50_ms${suffix}`] = median([1, 2, 3].flatMap((s) => figures[s]!.map((t) => t.ttftMs)));
      // Two more stage boundaries than one agent: each a round trip through the market object.
      result[`chat_relay_ms_per_token_hop${suffix}`] = (1000 / tps(3) - 1000 / tps(1)) / 2;

      if (n === 0) {
        // Recovery: kill the middle stage of the 3-stage route after 10 tokens; the longest wait between deltas is the recovery.
        const want = (await timed(stack, key, pinned(3), tokens)).text;
        const recoveries: number[] = [];
        let mismatches = 0;
        let ghosts = 0;
        const cycles = Math.max(1, kills);
        for (let c = 0; c < cycles; c++) {
          const stage = c === 0 ? 1 : Math.floor(Math.random() * 3);
          const at = c === 0 ? 10 : 1 + Math.floor(Math.random() * (tokens - 10));
          let victim: [string, AgentProcess] | undefined;
          const run = await timed(stack, key, pinned(3), tokens, (count, route) => {
            if (victim || count < at) return;
            victim = [...agents.entries()].find(([, a]) => a.key.publicKey === route[stage]);
            victim?.[1].child.kill('SIGKILL');
          });
          if (run.text !== want) mismatches++;
          if (c === 0) recoveries.push(run.maxGapMs);
          if (!victim) continue;
          // The killed agent comes back with its key: the same identity, never a second holder.
          const [name, dead] = victim;
          agents.delete(name);
          await eventually(async () => (await models()).find((r) => r.stages === 3)?.holders[stage] === 1, 'the killed holder to leave routing', 30_000);
          await start(name, dir, 3, stage, dead.key);
          const holders = await eventually(async () => {
            const h = (await models()).find((r) => r.stages === 3)?.holders;
            return h && h[stage] === 2 ? h : null;
          }, 'the killed holder to come back', 60_000, agentLogs);
          if (holders.some((h) => h > 2)) ghosts++;
        }
        result.chat_recovery_ms = recoveries[0]!;
        result.chat_kill_cycles = cycles;
        result.chat_kill_mismatches = mismatches;
        result.chat_ghost_holders = ghosts;
        log(`chat ${size}: ${cycles} kill-and-rejoin cycles, ${mismatches} mismatched, ${ghosts} with a ghost holder`);

        // Direct mode: the 3-stage cut held by agents that send each other their outputs (the market object relays only the token).
        for (const name of [...agents.keys()].filter((n) => n.includes('three-') || n.includes('spare-'))) {
          await agents.get(name)!.stop();
          agents.delete(name);
        }
        await eventually(async () => (await models()).find((r) => r.stages === 3) === undefined, 'the relayed 3-stage holders to leave', 60_000);
        await Promise.all([0, 1, 2].map((hold) => start(`${size}-direct-${hold}`, dir, 3, hold, undefined, true)));
        await eventually(async () => (await models()).find((r) => r.stages === 3)?.holders.every((h) => h === 1), 'the direct 3-stage cut', 60_000, agentLogs);
        for (let w = 0; w < 2; w++) await timed(stack, key, pinned(3), 8);
        const direct: Timed[] = [];
        for (let r = 0; r < runs; r++) direct.push(await timed(stack, key, pinned(3), tokens));
        if (direct.some((t) => t.text !== reference)) throw new Error('the direct route gave other tokens than the whole model');
        result.chat_tokens_per_s_3_stages_direct = median(direct.map((t) => t.tokensPerS));
        result.chat_3_stages_direct_vs_local = result.chat_tokens_per_s_3_stages_direct / baseline.tokensPerS;

        // Routing among holders of different speeds: a slower holder of each stage of the 2-stage cut
        // joins the two timed above (whose route is the best there is). Unmeasured holders are tried
        // first, so the first completion goes through both slow ones; the router must then come back
        // to the fast route and stay there.
        const best = tps(2);
        const fast = new Set([agents.get(`${size}-two-0`)!.key.publicKey, agents.get(`${size}-two-1`)!.key.publicKey]);
        await Promise.all([0, 1].map((hold) => start(`${size}-slow-${hold}`, dir, 2, hold, undefined, false, SLOW_STAGE_MS)));
        await eventually(async () => (await models()).find((r) => r.stages === 2)?.holders.every((h) => h === 2), 'the slow holders of the 2-stage cut', 60_000, agentLogs);
        const exploring = await timed(stack, key, pinned(2), tokens);
        await timed(stack, key, pinned(2), 8);
        const routed: Timed[] = [];
        for (let r = 0; r < runs; r++) routed.push(await timed(stack, key, pinned(2), tokens));
        if ([exploring, ...routed].some((t) => t.text !== reference)) throw new Error('a route among slow and fast holders gave other tokens than the whole model');
        result.chat_tokens_per_s_slow_route = exploring.route.some((k) => fast.has(k)) ? 0 : exploring.tokensPerS;
        result.chat_tokens_per_s_routed = median(routed.map((t) => t.tokensPerS));
        result.chat_routed_vs_best_route = result.chat_tokens_per_s_routed / best;
        result.chat_routed_fast_share = routed.filter((t) => t.route.every((k) => fast.has(k))).length / routed.length;
        log(`chat ${size}: holders ${SLOW_STAGE_MS} ms slower joined: the first route ${exploring.route.some((k) => fast.has(k)) ? 'was not' : 'was'} the slow one (${exploring.tokensPerS.toFixed(1)} tokens/s); then ${routed.filter((t) => t.route.every((k) => fast.has(k))).length}/${routed.length} through the fast holders, ${result.chat_tokens_per_s_routed.toFixed(1)} tokens/s against ${best.toFixed(1)} on the best route`);
      }
      await stopAll();
    }
    return result;
  } finally {
    await Promise.all([...agents.values()].map((a) => a.stop().catch(() => undefined)));
    await stack?.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // --sizes large,medium and --kills N narrow a full run (the first size gives the headline figures).
  const arg = (name: string) => process.argv[process.argv.indexOf(name) + 1];
  const quick = process.argv.includes('--quick');
  const sizes = process.argv.includes('--sizes') ? (arg('--sizes') ?? '').split(',').filter((s): s is ChatBenchSize => Object.hasOwn(WIDTHS, s)) : undefined;
  const kills = process.argv.includes('--kills') ? Number(arg('--kills')) : undefined;
  printResult(await runChatBench(quick ? { tokens: 24, runs: 1, kills: 2, sizes: ['small'] } : { ...(sizes?.length ? { sizes } : {}), ...(kills !== undefined && Number.isInteger(kills) ? { kills } : {}) }));
}
