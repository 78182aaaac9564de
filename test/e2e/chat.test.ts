import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeypair } from '../../durable-objects/contracts/auth.ts';
import { UNITS_PER_DOUG } from '../../durable-objects/domain/money.ts';
import { PROTOCOL } from '../../durable-objects/domain/params.ts';
import { DougClient } from '../../sdk/client.ts';
import OpenAI from 'openai';
import { eventually, startAgent, type AgentProcess } from './agents.ts';
import { startStack, type Stack } from './stack.ts';

/**
 * Collaborative inference end to end: `npm start`'s stack, real `doug-agent` processes each holding
 * stages of the shipped model (examples/chat), the OpenAI-compatible routes over plain HTTP.
 */
const MODEL = 'doug-austen';
let stack: Stack;
const agents = new Map<string, AgentProcess>();
let whole: string;
let cut: string;
let buyer: DougClient;
let apiKey: string;

interface ModelList {
  data: { id: string; routes: { manifest: string; stages: number; holders: number[] }[] }[];
}

async function agent(name: string, stages: number, hold: number[]): Promise<AgentProcess> {
  const a = await startAgent({ url: stack.url, dir: stack.dir, name, market: 'cpu', price: '0.001', args: ['--chat-model', 'examples/chat', '--stages', String(stages), '--hold', hold.join(',')] });
  agents.set(name, a);
  return a;
}

async function models(): Promise<ModelList> {
  return (await (await fetch(`${stack.url}/v1/models`)).json()) as ModelList;
}

const auth = (key = apiKey) => ({ 'content-type': 'application/json', authorization: `Bearer ${key}` });

async function complete(body: Record<string, unknown>, key = apiKey): Promise<{ status: number; json: any }> {
  const res = await fetch(`${stack.url}/v1/chat/completions`, { method: 'POST', headers: auth(key), body: JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

/** The SSE events of a streamed completion, as parsed JSON (`[DONE]` as the string). */
async function stream(body: Record<string, unknown>, onChunk?: (chunk: any) => void): Promise<{ chunks: any[]; raw: string }> {
  const res = await fetch(`${stack.url}/v1/chat/completions`, { method: 'POST', headers: auth(), body: JSON.stringify({ ...body, stream: true }) });
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let raw = '';
  let rest = '';
  const chunks: any[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const text = decoder.decode(value, { stream: true });
    raw += text;
    rest += text;
    let end: number;
    while ((end = rest.indexOf('\n\n')) >= 0) {
      const event = rest.slice(0, end);
      rest = rest.slice(end + 2);
      if (!event.startsWith('data: ')) continue;
      const data = event.slice(6);
      const chunk = data === '[DONE]' ? data : JSON.parse(data);
      chunks.push(chunk);
      onChunk?.(chunk);
    }
  }
  return { chunks, raw };
}

const textOf = (chunks: any[]) => chunks.filter((c) => c !== '[DONE]' && c.choices?.[0]?.delta?.content).map((c) => c.choices[0].delta.content).join('');
const logs = () => [...agents.values()].map((a) => a.log()).join('\n');

beforeAll(async () => {
  // Every completion is re-run on other agents where the route's stages have other holders (verification).
  const markets = [
    { id: 'cpu', description: 'cpu', params: { leaseMs: 4_000, chatVerifyBps: 10_000 } },
    // No verification here: a completion recorded for it is relayed, never sent agent to agent.
    { id: 'cpu-direct', description: 'cpu-direct', params: { leaseMs: 4_000, chatVerifyBps: 0 } },
  ];
  stack = await startStack({ chain: false, markets: JSON.stringify(markets) });
  buyer = new DougClient({ baseUrl: stack.url, keypair: await generateKeypair() });
  await buyer.faucet(10n * UNITS_PER_DOUG);
  apiKey = (await buyer.createApiKey({ name: 'e2e', limit: UNITS_PER_DOUG, expiresAt: Date.now() + 3600_000 })).key;
  await Promise.all([agent('whole', 1, [0]), agent('stage0', 3, [0]), agent('stage1', 3, [1]), agent('stage2', 3, [2])]);
  const list = await eventually(
    async () => {
      const m = (await models()).data.find((d) => d.id === MODEL);
      return m && m.routes.length === 2 ? m : null;
    },
    'both cuts of the model to be servable',
    60_000,
    logs,
  );
  whole = list.routes.find((r) => r.stages === 1)!.manifest;
  cut = list.routes.find((r) => r.stages === 3)!.manifest;
}, 180_000);

afterAll(async () => {
  await Promise.all([...agents.values()].map((a) => a.stop().catch(() => undefined)));
  await stack?.stop();
});

const PROMPT = [{ role: 'user', content: 'Emma Woodhouse, handsome, clever, and rich,' }];

describe('chat completions over a route of agents', () => {
  it('lists the model with each cut that has a holder for every stage', async () => {
    const m = (await models()).data.find((d) => d.id === MODEL)!;
    expect(m).toMatchObject({ object: 'model', owned_by: 'dougai' });
    expect(m.routes.find((r) => r.manifest === cut)!.holders).toEqual([1, 1, 1]);
  });

  it('gives the same words through three agents as through one holding the whole model (greedy and seeded)', async () => {
    for (const sampling of [{ temperature: 0 }, { temperature: 0.8, top_p: 0.9, seed: 7 }]) {
      const one = await complete({ model: `${MODEL}@${whole.slice(0, 12)}`, messages: PROMPT, max_tokens: 48, ...sampling });
      const three = await complete({ model: `${MODEL}@${cut.slice(0, 12)}`, messages: PROMPT, max_tokens: 48, ...sampling });
      expect(one.status, JSON.stringify(one.json)).toBe(200);
      expect(three.status).toBe(200);
      expect(three.json.choices[0].message.content).toBe(one.json.choices[0].message.content);
      expect(three.json.usage).toEqual(one.json.usage);
      expect(three.json.doug.route.map((r: { agentKey: string }) => r.agentKey)).toEqual(['stage0', 'stage1', 'stage2'].map((n) => agents.get(n)!.key.publicKey));
      expect(one.json.choices[0].message.content.split(' ').length).toBeGreaterThan(8);
    }
  });

  it('streams server-sent events: the role first, content deltas, the finish reason, usage, [DONE]', async () => {
    const { chunks, raw } = await stream({ model: MODEL, messages: PROMPT, max_tokens: 24, temperature: 0, stream_options: { include_usage: true } });
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.at(-1)).toBe('[DONE]');
    const finish = chunks.at(-3);
    expect(finish.choices[0].finish_reason).toMatch(/^(length|stop)$/);
    const usage = chunks.at(-2);
    expect(usage.choices).toEqual([]);
    expect(usage.usage.completion_tokens).toBeGreaterThan(0);
    expect(chunks.slice(0, -2).every((c: any) => c.object === 'chat.completion.chunk' && c.usage === null)).toBe(true);
    expect(textOf(chunks).length).toBeGreaterThan(20);
    expect(raw).not.toContain('"error"');
  });

  it('goes on when the middle stage is killed mid-stream: another holder replays, the text is the unbroken run’s', async () => {
    await agent('spare1', 3, [1]);
    await eventually(async () => (await models()).data.find((d) => d.id === MODEL)?.routes.find((r) => r.manifest === cut)?.holders[1] === 2, 'the spare to hold stage 1', 30_000, logs);
    const body = { model: `${MODEL}@${cut.slice(0, 12)}`, messages: PROMPT, max_tokens: 160, temperature: 0 };
    const unbroken = await complete(body);
    let killed: string | null = null;
    const { chunks } = await stream(body, (chunk) => {
      const route = chunk?.doug?.route;
      if (route && killed === null) {
        const middle = route[1].agentKey as string;
        const victim = [...agents.entries()].find(([, a]) => a.key.publicKey === middle)!;
        killed = victim[0];
        victim[1].child.kill('SIGKILL');
      }
    });
    expect(killed).not.toBeNull();
    expect(textOf(chunks)).toBe(unbroken.json.choices[0].message.content);
    const last = chunks.at(-2);
    expect(last.doug.replaced).toHaveLength(1);
    expect(last.doug.replaced[0]).toMatchObject({ stage: 1 });
    expect(last.doug.route[1].agentKey).not.toBe(agents.get(killed!)!.key.publicKey);
    agents.delete(killed!);
    // The killed agent is gone from routing at once: one holder of stage 1 is listed.
    expect((await models()).data.find((d) => d.id === MODEL)!.routes.find((r) => r.manifest === cut)!.holders).toEqual([1, 1, 1]);
  });

  it('refuses bad requests in OpenAI’s error shape, with a fitting status', async () => {
    const cases: [Record<string, unknown>, number, string][] = [
      [{ model: 'no-such-model', messages: PROMPT }, 404, 'CHAT__UNKNOWN_MODEL'],
      [{ model: MODEL, messages: [] }, 400, 'API__INVALID_INPUT'],
      [{ model: MODEL, messages: PROMPT, n: 2 }, 400, 'API__INVALID_INPUT'],
      [{ model: MODEL, messages: PROMPT, temperature: 3 }, 400, 'API__INVALID_INPUT'],
      [{ model: MODEL, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }, 400, 'API__INVALID_INPUT'],
      [{ model: MODEL, messages: PROMPT, max_tokens: 100_000 }, 400, 'CHAT__PROMPT_TOO_LONG'],
    ];
    for (const [body, status, code] of cases) {
      const r = await complete(body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(r.json.error).toMatchObject({ code, type: 'invalid_request_error' });
      expect(typeof r.json.error.message).toBe('string');
    }
    const garbage = await fetch(`${stack.url}/v1/chat/completions`, { method: 'POST', headers: auth(), body: '{"model":' });
    expect(garbage.status).toBe(400);
    expect(((await garbage.json()) as any).error.code).toBe('API__MALFORMED_JSON');
  });

  it('charges the API key’s wallet per token processed, pays each stage by its layers, and refuses keys that may not spend', async () => {
    const providers = ['stage0', 'stage1', 'stage2', 'spare1'].flatMap((n) => (agents.has(n) ? [agents.get(n)!.key.publicKey] : []));
    const before = await buyer.account();
    const earned = async () => Promise.all(providers.map(async (p) => BigInt((await buyer.account(p)).available)));
    const earnedBefore = await earned();
    const r = await complete({ model: `${MODEL}@${cut.slice(0, 12)}`, messages: PROMPT, max_tokens: 20, temperature: 0 });
    expect(r.status).toBe(200);
    const charge = BigInt(r.json.doug.charge);
    expect(charge).toBe(BigInt(r.json.usage.total_tokens) * BigInt(PROTOCOL.chatTokenPrice));
    const after = await eventually(async () => {
      const a = await buyer.account();
      return BigInt(a.held) === BigInt(before.held) ? a : null;
    }, 'the hold to settle');
    expect(BigInt(before.available) - BigInt(after.available)).toBe(charge);
    // Each stage's share (by layers: 2 of 6 each) less the 2.5 % fee reaches its provider's ledger.
    const paid = await eventually(async () => {
      const now = await earned();
      const total = now.reduce((s, v, i) => s + v - earnedBefore[i]!, 0n);
      return total > 0n ? total : null;
    }, 'the providers to be paid');
    const third = (charge * 2n) / 6n;
    const fees = 2n * ((third * 250n) / 10_000n) + ((charge - 2n * third) * 250n) / 10_000n;
    expect(paid).toBe(charge - fees);

    const keys = (await buyer.apiKeys()).items;
    expect(keys[0]).toMatchObject({ name: 'e2e', scopes: ['chat'], spent: String(BigInt(keys[0]!.spent)) });
    expect(BigInt(keys[0]!.spent)).toBeGreaterThanOrEqual(charge);
    expect(JSON.stringify(keys)).not.toMatch(/secret/i);

    const wrong = `${apiKey.slice(0, -4)}abcd`;
    const cases: [string, number, string][] = [
      [wrong, 401, 'ACCOUNT__API_KEY_INVALID'],
      ['sk-not-ours', 401, 'ACCOUNT__API_KEY_INVALID'],
    ];
    for (const [key, status, code] of cases) {
      const bad = await complete({ model: MODEL, messages: PROMPT }, key);
      expect(bad.status).toBe(status);
      expect(bad.json.error).toMatchObject({ code, type: 'authentication_error' });
    }
    const none = await fetch(`${stack.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, messages: PROMPT }) });
    expect(none.status).toBe(401);

    // A key whose limit cannot cover the hold (prompt + max_tokens at the price) is refused before any agent works.
    const small = await buyer.createApiKey({ name: 'small', limit: 5_000n, expiresAt: Date.now() + 3600_000 });
    const spent = await complete({ model: MODEL, messages: PROMPT, max_tokens: 50 }, small.key);
    expect(spent.status).toBe(429);
    expect(spent.json.error).toMatchObject({ code: 'ACCOUNT__API_KEY_LIMIT_REACHED', type: 'insufficient_quota' });
    await buyer.revokeApiKey(small.id);
    const revoked = await complete({ model: MODEL, messages: PROMPT, max_tokens: 1 }, small.key);
    expect(revoked.status).toBe(401);
    expect(revoked.json.error.code).toBe('ACCOUNT__API_KEY_REVOKED');
  });

  it('works with the official openai client: models.list(), create() whole and streamed, finalChatCompletion(), its errors', async () => {
    const client = new OpenAI({ apiKey, baseURL: `${stack.url}/v1`, maxRetries: 0 });
    const listed = [];
    for await (const m of client.models.list()) listed.push(m.id);
    expect(listed).toContain(MODEL);
    const request = { model: MODEL, messages: [{ role: 'user' as const, content: 'It is a truth universally acknowledged' }], max_tokens: 30, temperature: 0, seed: 1 };
    const whole = await client.chat.completions.create(request);
    expect(whole.choices[0]!.message.role).toBe('assistant');
    expect(whole.choices[0]!.message.content!.length).toBeGreaterThan(10);
    expect(whole.usage!.completion_tokens).toBeGreaterThan(0);
    let streamed = '';
    let usage: OpenAI.CompletionUsage | null | undefined = null;
    for await (const chunk of await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } })) {
      streamed += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(streamed).toBe(whole.choices[0]!.message.content);
    expect(usage).toEqual(whole.usage);
    const final = await client.chat.completions.stream(request).finalChatCompletion();
    expect(final.choices[0]!.message.content).toBe(whole.choices[0]!.message.content);
    expect(final.choices[0]!.finish_reason).toBe(whole.choices[0]!.finish_reason);

    const stranger = new OpenAI({ apiKey: 'sk-doug_not-a-key', baseURL: `${stack.url}/v1`, maxRetries: 0 });
    await expect(stranger.chat.completions.create(request)).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    const poor = await buyer.createApiKey({ name: 'poor', limit: 1_000n, expiresAt: Date.now() + 3600_000 });
    const limited = new OpenAI({ apiKey: poor.key, baseURL: `${stack.url}/v1`, maxRetries: 0 });
    const refused = await limited.chat.completions.create(request).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect((refused as InstanceType<typeof OpenAI.APIError>).code).toBe('ACCOUNT__API_KEY_LIMIT_REACHED');
    await expect(client.chat.completions.create({ ...request, model: 'nobody-serves-this' })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('lets agents that can reach each other send steps directly, the relay taking over when one dies mid-stream', async () => {
    const directArgs = (hold: number) => ['--chat-model', 'examples/chat', '--stages', '2', '--hold', String(hold), '--direct-port', '0'];
    for (const [name, hold] of [['direct-0', 0], ['direct-1', 1], ['direct-1b', 1]] as const) agents.set(name, await startAgent({ url: stack.url, dir: stack.dir, name, market: 'cpu-direct', price: '0.001', args: directArgs(hold) }));
    const two = await eventually(async () => (await models()).data.find((d) => d.id === MODEL)?.routes.find((r) => r.stages === 2 && r.holders[1] === 2), 'the direct 2-stage cut', 30_000, logs);
    const body = { model: `${MODEL}@${two.manifest.slice(0, 12)}`, messages: PROMPT, max_tokens: 40, temperature: 0 };
    const reference = (await complete({ ...body, model: `${MODEL}@${whole.slice(0, 12)}` })).json.choices[0].message.content;
    const r = await complete(body);
    expect(r.json.choices[0].message.content).toBe(reference);
    // Most steps went agent to agent (the first may race its grant and be relayed).
    expect(r.json.doug.directSteps).toBeGreaterThanOrEqual(r.json.usage.completion_tokens - 1);
    let killed: AgentProcess | null = null;
    const { chunks } = await stream({ ...body, max_tokens: 160 }, (chunk) => {
      const route = chunk?.doug?.route;
      if (route && !killed) {
        killed = [...agents.values()].find((a) => a.key.publicKey === route[1].agentKey)!;
        killed.child.kill('SIGKILL');
      }
    });
    const unbroken = (await complete({ ...body, max_tokens: 160, model: `${MODEL}@${whole.slice(0, 12)}` })).json.choices[0].message.content;
    expect(textOf(chunks)).toBe(unbroken);
    expect(chunks.at(-2).doug.replaced).toHaveLength(1);
    for (const [name, a] of agents) if (a === killed) agents.delete(name);
  });

  it('a stage agent that comes back is the same identity, never a second holder', async () => {
    const back = agents.get('stage2')!;
    await back.stop();
    await eventually(async () => (await models()).data.find((d) => d.id === MODEL)?.routes.find((r) => r.manifest === cut) === undefined, 'stage 2 to leave routing', 30_000, logs);
    const again = await startAgent({ url: stack.url, dir: stack.dir, name: 'stage2', market: 'cpu', price: '0.001', key: back.key, args: ['--chat-model', 'examples/chat', '--stages', '3', '--hold', '2'] });
    agents.set('stage2', again);
    const route = await eventually(async () => (await models()).data.find((d) => d.id === MODEL)?.routes.find((r) => r.manifest === cut), 'stage 2 to return', 30_000, logs);
    expect(route.holders).toEqual([1, 1, 1]);
  });

  it('re-runs a completion on other agents, and takes an agent whose outputs two others contradict out of routing; its buyer pays nothing when it served', async () => {
    await Promise.all([agent('verify-0', 3, [0]), agent('verify-1', 3, [1]), agent('verify-2', 3, [2])]);
    const liar = await startAgent({ url: stack.url, dir: stack.dir, name: 'liar-2', market: 'cpu', price: '0.001', fault: true, args: ['--chat-model', 'examples/chat', '--stages', '3', '--hold', '2'] });
    agents.set('liar-2', liar);
    await eventually(async () => (await models()).data.find((d) => d.id === MODEL)?.routes.find((r) => r.manifest === cut)?.holders[2] === 3, 'three holders of stage 2', 30_000, logs);
    const body = { model: `${MODEL}@${cut.slice(0, 12)}`, messages: PROMPT, max_tokens: 16, temperature: 0 };
    const honest = (await complete({ ...body, model: `${MODEL}@${whole.slice(0, 12)}` })).json.choices[0].message.content;
    // Routing measures unmeasured holders first, so within a few completions the liar serves one or checks one.
    const before = BigInt((await buyer.account()).available);
    let expected = 0n;
    let excluded = false;
    for (let attempt = 0; attempt < 4 && !excluded; attempt++) {
      const r = await complete(body);
      expect(r.status).toBe(200);
      expect(r.json.doug.checked).toBe(true);
      const served = r.json.doug.route[2].agentKey === liar.key.publicKey;
      if (served) expect(r.json.choices[0].message.content).not.toBe(honest);
      else {
        expect(r.json.choices[0].message.content).toBe(honest);
        expected += BigInt(r.json.doug.charge);
      }
      await eventually(async () => BigInt((await buyer.account()).held) === 0n, 'the hold to end');
      excluded = (await models()).data.find((d) => d.id === MODEL)?.routes.find((x) => x.manifest === cut)?.holders[2] === 2;
    }
    expect(excluded).toBe(true);
    // A completion the liar served cost nothing; the others their charge.
    expect(before - BigInt((await buyer.account()).available)).toBe(expected);
    // Later completions go through honest holders only.
    const again = await complete(body);
    expect(again.json.doug.route[2].agentKey).not.toBe(liar.key.publicKey);
    expect(again.json.choices[0].message.content).toBe(honest);
  });

  it('writes no prompt and no completion anywhere: every file the stack keeps (SQLite logs, D1, R2) is free of them', async () => {
    const secret = 'Miss Bates confided the secret of the pianoforte';
    const r = await complete({ model: MODEL, messages: [{ role: 'user', content: secret }], max_tokens: 24, temperature: 0 });
    expect(r.status).toBe(200);
    const completion = r.json.choices[0].message.content as string;
    // Let the outboxes, projections and settlement run, then read every byte on disk.
    await eventually(async () => BigInt((await buyer.account()).held) === 0n, 'the hold to end');
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.isFile()) files.push(path);
      }
    };
    walk(stack.dir);
    expect(files.some((f) => f.endsWith('.sqlite'))).toBe(true);
    const needles = [secret, completion.trim().slice(0, 24)].filter((n) => n.length >= 12).map((n) => Buffer.from(n));
    for (const f of files) for (const needle of needles) expect(readFileSync(f).includes(needle), `${f} holds "${needle}"`).toBe(false);
  });
});
