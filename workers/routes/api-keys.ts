/**
 * API keys for the chat API (OpenAI clients send one as `Authorization: Bearer …`). Created by a
 * signed request of the wallet (or its session with the "orders" scope: a key spends like a bid):
 * the client makes the secret and sends only its SHA-256, so the secret never leaves it. Each key
 * is scoped to chat, has a spending limit and an expiry, and can be revoked.
 */
import type { ApiKeyResponse } from '../../durable-objects/contracts/api.ts';
import { CreateApiKeySchema, expiryProblem } from '../../durable-objects/contracts/schemas.ts';
import { API_KEY_ID, type ApiKeyView } from '../../durable-objects/domain/account/index.ts';
import { domainError } from '../../durable-objects/domain/errors.ts';
import type { Env } from '../../durable-objects/runtime/env.ts';
import { accountObject } from '../../durable-objects/runtime/objects.ts';
import { errorResponse, json, refuse } from '../http.ts';
import { valid } from '../validate.ts';
import { signed } from './common.ts';

const view = (k: ApiKeyView): ApiKeyResponse => ({ ...k, limit: k.limit.toString(), spent: k.spent.toString() });

export async function createApiKey(request: Request, env: Env): Promise<Response> {
  const req = await signed(request, env, 'createApiKey');
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
  const req = await signed(request, env, 'apiKeys');
  await req.commit();
  return json({ items: (await accountObject(env, req.caller.actor).apiKeys()).map(view) });
}

/**
 * DELETE /v1/api-keys/:id: revokes one of the caller's keys. The id is taken as the path names it,
 * never decoded: an id is [a-z0-9], so anything else (a percent-escape, malformed or not) is refused
 * before the nonce is spent, and the key revoked is the one answered.
 */
export async function revokeApiKey(request: Request & { params: Record<string, string> }, env: Env): Promise<Response> {
  const req = await signed(request, env, 'revokeApiKey');
  const id = request.params.id ?? '';
  if (!API_KEY_ID.test(id)) refuse('API__INVALID_INPUT', { field: 'id', problem: `must match ${API_KEY_ID.source}` });
  await req.commit();
  const account = accountObject(env, req.caller.actor);
  const r = await account.execute(req.caller.actor, { type: 'RevokeApiKey', keyId: id }, { commandId: `revoke-api-key:${id}`, actor: req.caller.actor, now: req.now });
  if (!r.ok) return errorResponse(r.error);
  const revoked = (await account.apiKeys()).find((k) => k.id === id);
  return revoked ? json(view(revoked)) : errorResponse(domainError('ACCOUNT__API_KEY_NOT_FOUND', { keyId: id }));
}
