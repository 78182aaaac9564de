import type { RevokeSessionResponse } from '../../durable-objects/contracts/api.ts';
import type { Env } from '../../durable-objects/runtime/env.ts';
import { EmptySchema } from '../../durable-objects/contracts/schemas.ts';
import { errorResponse, json } from '../http.ts';
import { valid } from '../validate.ts';
import { accountObject } from '../../durable-objects/runtime/objects.ts';
import { signed } from './common.ts';

/**
 * POST /v1/sessions/revoke (signed by a delegated session key, with its delegation, any scope; body
 * `{}`): revokes the signing key for good, before its delegation expires ("disconnect"). The request's
 * nonce is recorded first, then the key's account records the revocation. From then on every request
 * the key signs is refused with AUTH__KEY_REVOKED, a second revoke included; the exact same request
 * replayed is AUTH__NONCE_REPLAYED. A bare wallet signature is refused (AUTH__FORBIDDEN): a wallet is
 * not a session.
 */
export async function revokeSession(request: Request, env: Env): Promise<Response> {
  const req = await signed(request, env, 'revokeSession');
  valid(EmptySchema, req.body);
  await req.commit();
  const key = req.caller.signer;
  const result = await accountObject(env, key).revokeKey(key, { commandId: `revoke:${req.caller.nonce}`, actor: key, now: req.now });
  if (!result.ok) return errorResponse(result.error);
  return json({ revoked: key, at: result.value.revokedAt } satisfies RevokeSessionResponse);
}
