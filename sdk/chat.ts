/**
 * The chat API from TypeScript without the openai package (the portal uses it; any OpenAI client
 * works as well): the models that can be served now, and a streamed completion as its chunks,
 * `doug` (the route, replacements, the charge) included.
 */
import { frames, type ChatFaultView, type RouteStage } from '../durable-objects/contracts/chat.ts';

export interface ChatModelEntry {
  id: string;
  routes: { market: string; manifest: string; stages: number; holders: number[]; maxPositions: number }[];
}

export interface ChatChunk {
  /** Text to append (may be empty). */
  content: string;
  finishReason: 'stop' | 'length' | null;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  doug?: { route: RouteStage[]; replaced?: { stage: number; agentKey: string; provider: string; steps: number }[]; seed: number; charge?: string };
}

export class ChatError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function chatModels(baseUrl: string): Promise<ChatModelEntry[]> {
  const res = await fetch(`${baseUrl}/v1/models`);
  return ((await res.json()) as { data: ChatModelEntry[] }).data;
}

/** Holders a verification found at fault, newest first, with where their providers' slashes stand. */
export async function chatFaults(baseUrl: string): Promise<(ChatFaultView & { market: string })[]> {
  const res = await fetch(`${baseUrl}/v1/chat/faults`);
  return ((await res.json()) as { items: (ChatFaultView & { market: string })[] }).items;
}

export interface ChatStreamRequest {
  model: string;
  messages: { role: 'system' | 'user' | 'assistant'; content: string }[];
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  seed?: number;
  stop?: string[];
}

/** A streamed completion's chunks; a refusal (before or during the stream) throws ChatError with the API's code. */
export async function* chatStream(baseUrl: string, apiKey: string, request: ChatStreamRequest, signal?: AbortSignal): AsyncGenerator<ChatChunk> {
  const res = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ ...request, stream: true, stream_options: { include_usage: true } }),
    ...(signal ? { signal } : {}),
  });
  if (!res.ok || !res.body) {
    const body = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
    throw new ChatError(res.status, body?.error?.code ?? 'CLIENT__HTTP', body?.error?.message ?? `HTTP ${res.status}`);
  }
  for await (const event of frames(res.body, '\n\n')) {
    if (!event.startsWith('data: ')) continue; // `: ping` keep-alives
    if (event === 'data: [DONE]') return;
    const data = JSON.parse(event.slice(6)) as {
      error?: { code: string; message: string };
      choices: { delta?: { content?: string }; finish_reason?: ChatChunk['finishReason'] }[];
      usage?: ChatChunk['usage'] | null;
      doug?: ChatChunk['doug'];
    };
    if (data.error) throw new ChatError(503, data.error.code, data.error.message);
    const choice = data.choices[0];
    yield { content: choice?.delta?.content ?? '', finishReason: choice?.finish_reason ?? null, ...(data.usage ? { usage: data.usage } : {}), ...(data.doug ? { doug: data.doug } : {}) };
  }
}
