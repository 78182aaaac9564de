import type { Env } from '../../durable-objects/runtime/env.ts';
import { UNITS_PER_DOUG } from '../../durable-objects/domain/money.ts';
import { errorResponse, json } from '../http.ts';
import { accountStub, rpc, signed } from './common.ts';

/** Most a faucet request may credit: 1,000,000 DOUG. */
export const FAUCET_LIMIT = 1_000_000n * UNITS_PER_DOUG;

/** POST /v1/faucet (local mode only): credits the signer's account on the local marketplace. */
export async function faucet(request: Request, env: Env): Promise<Response> {
  const req = await signed(request, env, 'owner');
  const amount = req.body.only('amount').amount('amount', { max: FAUCET_LIMIT });
  await req.commit();
  const ref = `faucet:${req.caller.signer}:${req.caller.nonce}`;
  const result = await rpc(accountStub(env, req.caller.actor).execute(req.caller.actor, { type: 'Credit', ref, amount, source: 'faucet' }, { commandId: ref, actor: req.caller.actor, now: req.now }));
  if (!result.ok) return errorResponse(result.error);
  const balance = await accountStub(env, req.caller.actor).balance();
  return json({ credited: amount, available: balance.available }, 201);
}
