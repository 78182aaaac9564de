/**
 * The OpenAI-compatible chat API (DESIGN.md section 10): `GET /v1/models` lists the models the
 * connected agents can serve now, `POST /v1/chat/completions` runs one completion over a route of
 * stage holders (runtime/chat-router.ts), streamed as server-sent events or answered whole. Errors
 * on these routes take OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, so the
 * official clients raise their usual exceptions.
 */
import type { Env } from '../../durable-objects/runtime/env.ts';
import { frames, parseApiKey, type ChatEvent, type ChatModelView, type ChatPayer } from '../../durable-objects/contracts/chat.ts';
import { accountObject } from '../../durable-objects/runtime/objects.ts';
import { ChatCompletionSchema, parse } from '../../durable-objects/contracts/schemas.ts';
import { encodeBase58Nonce, sha256Hex } from '../../durable-objects/contracts/auth.ts';
import { modelMatches, type ChatMessageIn } from '../../durable-objects/domain/chat/rules.ts';
import { domainError } from '../../durable-objects/domain/errors.ts';
import type { DomainError, Result } from '../../durable-objects/domain/result.ts';
import { marketList } from '../config.ts';
import { withinRate } from '../rate-limit.ts';
import { ApiFailure, decodeUtf8, parseJsonObject, readBytes, statusFor } from '../http.ts';

/** Largest chat request body: the messages' limits with room for JSON. */
const MAX_CHAT_BODY = 1024 * 1024;
/** A keep-alive comment this often while a stream is open, so proxies do not drop a slow route. */
const PING_MS = 10_000;

/** An error in OpenAI's shape, with the registry's code and a status fitting it. */
export function openAiError(error: DomainError, headers: Record<string, string> = {}): Response {
  const status = statusFor(error.code);
  const type = status === 401 ? 'authentication_error' : status === 402 || status === 429 ? 'insufficient_quota' : status >= 500 ? 'server_error' : 'invalid_request_error';
  const param = typeof error.context?.field === 'string' ? error.context.field : null;
  return new Response(JSON.stringify({ error: { message: error.message, type, param, code: error.code } }), { status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers } });
}

function asOpenAi(e: unknown): Response {
  if (e instanceof ApiFailure) return openAiError(e.error, e.headers);
  console.error(`chat route failed: ${e instanceof Error ? e.stack : String(e)}`);
  return openAiError(domainError('API__INTERNAL'));
}

async function allModels(env: Env): Promise<{ market: string; model: ChatModelView }[]> {
  const markets = marketList(env).map((m) => m.id);
  const lists = await Promise.all(markets.map((market) => env.MARKETS.get(env.MARKETS.idFromName(market)).chatModels(market)));
  return lists.flatMap((models, i) => models.map((model) => ({ market: markets[i]!, model })));
}

/** `GET /v1/chat/faults`: every market's holders found at fault, newest first, with their slashes. */
export async function listChatFaults(_request: Request, env: Env): Promise<Response> {
  try {
    const markets = marketList(env).map((m) => m.id);
    const lists = await Promise.all(markets.map((market) => env.MARKETS.get(env.MARKETS.idFromName(market)).chatFaults(market)));
    const items = lists.flatMap((faults, i) => faults.map((f) => ({ market: markets[i]!, ...f }))).sort((a, b) => b.at - a.at);
    return new Response(JSON.stringify({ items }), { headers: { 'content-type': 'application/json; charset=utf-8' } });
  } catch (e) {
    return asOpenAi(e);
  }
}

/** `GET /v1/models`: one entry per model name that some market can serve now. */
export async function listChatModels(_request: Request, env: Env): Promise<Response> {
  try {
    const seen = new Map<string, { market: string; model: ChatModelView }[]>();
    for (const m of await allModels(env)) if (m.model.servable) seen.set(m.model.id, [...(seen.get(m.model.id) ?? []), m]);
    const data = [...seen].map(([id, routes]) => ({
      id,
      object: 'model',
      created: 0,
      owned_by: 'dougai',
      routes: routes.map((r) => ({ market: r.market, manifest: r.model.manifest, stages: r.model.stages, holders: r.model.holders, maxPositions: r.model.maxPositions })),
    }));
    return new Response(JSON.stringify({ object: 'list', data }), { headers: { 'content-type': 'application/json; charset=utf-8' } });
  } catch (e) {
    return asOpenAi(e);
  }
}

const contentOf = (c: string | { text: string }[]): string => (typeof c === 'string' ? c : c.map((p) => p.text).join(''));

/**
 * The payer of a request: its Bearer API key, checked with the key's account (its secret's
 * SHA-256, revocation, expiry). Refused with OpenAI's 401 shape before the body is read.
 */
async function payerOf(request: Request, env: Env): Promise<ChatPayer> {
  const header = request.headers.get('authorization') ?? '';
  const bearer = /^Bearer (\S+)$/i.exec(header)?.[1];
  if (!bearer) throw new ApiFailure(domainError('AUTH__MISSING', { header: 'Authorization: Bearer <API key> (create one with POST /v1/api-keys)' }));
  const key = parseApiKey(bearer);
  if (!key) throw new ApiFailure(domainError('ACCOUNT__API_KEY_INVALID'));
  await withinRate(env, key.wallet);
  const checked = (await accountObject(env, key.wallet).checkApiKey(key.id, await sha256Hex(key.secret), Date.now())) as Result<null>;
  if (!checked.ok) throw new ApiFailure(checked.error);
  return { account: key.wallet, apiKeyId: key.id };
}

/** `POST /v1/chat/completions`. */
export async function chatCompletions(request: Request, env: Env): Promise<Response> {
  try {
    const payer = await payerOf(request, env);
    const bytes = await readBytes(request, { type: 'application/json', limit: MAX_CHAT_BODY });
    const parsed = parse(ChatCompletionSchema, parseJsonObject(decodeUtf8(bytes)));
    if (!parsed.ok) return openAiError(domainError('API__INVALID_INPUT', { field: parsed.field, problem: parsed.problem }));
    const body = parsed.value;
    const stops = body.stop === undefined || body.stop === null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop;
    const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? undefined;
    const temperature = body.temperature ?? 1;
    // A request without a seed gets one, so that its tokens can still be reproduced (and verified).
    const seed = (body.seed ?? crypto.getRandomValues(new Uint32Array(1))[0]!) >>> 0;
    const messages: ChatMessageIn[] = body.messages.map((m) => ({ role: m.role, content: contentOf(m.content) }));

    const holders = (await allModels(env)).filter((m) => modelMatches(body.model, m.model.id, m.model.manifest) && m.model.servable);
    if (holders.length === 0) return openAiError(domainError('CHAT__UNKNOWN_MODEL', { model: body.model }));
    const market = holders[0]!.market;
    const started = (await env.MARKETS.get(env.MARKETS.idFromName(market)).chat(market, {
      model: body.model,
      messages,
      ...(maxTokens !== undefined ? { maxTokens } : {}),
      sampling: { temperature, topP: body.top_p ?? 1, seed },
      stop: stops,
      payer,
    })) as Result<ReadableStream<Uint8Array>>;
    if (!started.ok) return openAiError(started.error);
    const completion = { id: `chatcmpl-${encodeBase58Nonce()}`, created: Math.floor(Date.now() / 1000), model: body.model, seed };
    return body.stream ? streamed(started.value, completion, body.stream_options?.include_usage === true) : await whole(started.value, completion);
  } catch (e) {
    return asOpenAi(e);
  }
}

interface Completion {
  id: string;
  created: number;
  model: string;
  seed: number;
}

/** The events of a completion, one JSON line each. */
async function* events(stream: ReadableStream<Uint8Array>): AsyncGenerator<ChatEvent> {
  for await (const line of frames(stream, '\n')) yield JSON.parse(line) as ChatEvent;
}

const usageOf = (e: Extract<ChatEvent, { type: 'done' }>) => ({ prompt_tokens: e.promptTokens, completion_tokens: e.completionTokens, total_tokens: e.promptTokens + e.completionTokens });
const dougOf = (e: Extract<ChatEvent, { type: 'done' }>, replaced: unknown[], seed: number) => ({ route: e.route, replaced, seed, charge: e.charge, tokensDigest: e.tokensDigest, checked: e.checked, directSteps: e.directSteps });

async function whole(stream: ReadableStream<Uint8Array>, c: Completion): Promise<Response> {
  let text = '';
  const replaced: unknown[] = [];
  for await (const e of events(stream)) {
    if (e.type === 'delta') text += e.text;
    else if (e.type === 'replaced') replaced.push(e);
    else if (e.type === 'error') return openAiError({ code: e.code, message: e.message, context: {} });
    else if (e.type === 'done') {
      const body = {
        id: c.id,
        object: 'chat.completion',
        created: c.created,
        model: c.model,
        system_fingerprint: null,
        choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: e.finishReason }],
        usage: usageOf(e),
        doug: dougOf(e, replaced, c.seed),
      };
      return new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json; charset=utf-8' } });
    }
  }
  return openAiError(domainError('API__UNAVAILABLE'));
}

function streamed(stream: ReadableStream<Uint8Array>, c: Completion, includeUsage: boolean): Response {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const encoder = new TextEncoder();
  const write = (text: string) => writer.write(encoder.encode(text));
  const chunk = (delta: Record<string, unknown>, finish: string | null, extra: Record<string, unknown> = {}) =>
    write(`data: ${JSON.stringify({ id: c.id, object: 'chat.completion.chunk', created: c.created, model: c.model, system_fingerprint: null, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...(includeUsage ? { usage: null } : {}), ...extra })}\n\n`);
  const ping = setInterval(() => void write(': ping\n\n').catch(() => undefined), PING_MS);
  const pump = async () => {
    const replaced: unknown[] = [];
    try {
      for await (const e of events(stream)) {
        if (e.type === 'start') await chunk({ role: 'assistant', content: '' }, null, { doug: { route: e.route, seed: c.seed } });
        else if (e.type === 'delta' && e.text) await chunk({ content: e.text }, null);
        else if (e.type === 'replaced') replaced.push(e);
        else if (e.type === 'error') {
          const status = statusFor(e.code);
          await write(`data: ${JSON.stringify({ error: { message: e.message, type: status >= 500 ? 'server_error' : 'invalid_request_error', param: null, code: e.code } })}\n\n`);
          return;
        } else if (e.type === 'done') {
          await chunk({}, e.finishReason, { doug: dougOf(e, replaced, c.seed) });
          if (includeUsage) await write(`data: ${JSON.stringify({ id: c.id, object: 'chat.completion.chunk', created: c.created, model: c.model, system_fingerprint: null, choices: [], usage: usageOf(e) })}\n\n`);
          await write('data: [DONE]\n\n');
          return;
        }
      }
    } catch {
      // The client went away: the completion stops with the stream.
    } finally {
      clearInterval(ping);
      await writer.close().catch(() => undefined);
    }
  };
  void pump();
  return new Response(readable, { headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' } });
}
