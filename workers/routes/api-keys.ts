/**
 * API keys for the chat API (OpenAI clients send one as `Authorization: Bearer …`). Created by a
 * signed request of the wallet (or its session with the "orders" scope: a key spends like a bid):
 * the client makes the secret and sends only its SHA-256, so the secret never leaves it. Each key
 * is scoped to chat, has a spending limit and an expiry, and can be revoked.
 */
import type { ApiKeyResponse } from '../../durable-objects/contracts/api.ts';
import { CreateApiKeySchema, expiryProblem } from '../../durable-objects/contracts/schemas.ts';
import type { ApiKeyView } from '../../durable-objects/domain/account/index.ts';
import type { Env } from '../../durable-objects/runtime/env.ts';
import { accountObject } from '../../durable-objects/runtime/objects.ts';
import { errorResponse, json, refuse } from '../http.ts';
import { valid } from '../validate.ts';
import { signed } from './common.ts';

const view = (k: ApiKeyView): ApiKeyResponse => ({ ...k, limit: k.limit.toString(), spent: k.spent.toString() });

export async function createApiKey(request: Request, env: Env): Promise<Response> {
  const req = await signed(request, env, 'orders');
  const body = valid(CreateApiKeySchema, req.body);
  const late = expiryProblem(body.expiresAt, req.now);
  if (late) refuse('API__INVALID_INPUT', { field: 'expiresAt', problem: late });
  await req.commit();
  const account = accountObject(env, req.caller.actor);
  const command = { type: 'CreateApiKey', keyId: body.id, name: body.name, secretSha256: body.secretSha256, limit: body.limit, expiresAt: body.expiresAt } as const;
  const r = await account.execute(req.caller.actor, command, { commandId: `api-key:${body.id}`, actor: req.caller.actor, now: req.now });
  if (!r.ok) return errorResponse(r.error);
  const created = (await account.apiKeys()).find((k) => k.id === body.id)!;
  return json(view(created), r.value.repeated ? 200 : 201);
}

export async function listApiKeys(request: Request, env: Env): Promise<Response> {
  const req = await signed(request, env, 'orders');
  await req.commit();
  return json({ items: (await accountObject(env, req.caller.actor).apiKeys()).map(view) });
}

export async function revokeApiKey(request: Request, env: Env): Promise<Response> {
  const req = await signed(request, env, 'orders');
  const id = new URL(request.url).pathname.split('/').pop() ?? '';
  await req.commit();
  const account = accountObject(env, req.caller.actor);
  const r = await account.execute(req.caller.actor, { type: 'RevokeApiKey', keyId: decodeURIComponent(id).slice(0, 64) }, { commandId: `revoke-api-key:${id}`, actor: req.caller.actor, now: req.now });
  if (!r.ok) return errorResponse(r.error);
  return json(view((await account.apiKeys()).find((k) => k.id === id)!));
}
