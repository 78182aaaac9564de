import type { FaucetResult } from '../../durable-objects/contracts/api.ts';
import type { Env } from '../../durable-objects/runtime/env.ts';
import { FaucetSchema } from '../../durable-objects/contracts/schemas.ts';
import { errorResponse, json, refuse } from '../http.ts';
import { chainConfig, hasChain } from '../../durable-objects/runtime/chain.ts';
import { onChain } from '../../programs/client/errors.ts';
import { faucetMint } from '../../programs/client/mint.ts';
import { solanaRpc } from '../../programs/client/rpc.ts';
import { signerFromSecretKey } from '../../programs/client/tx.ts';
import { accountObject } from '../../durable-objects/runtime/objects.ts';
import { signed } from './common.ts';
import { valid } from '../validate.ts';

/**
 * POST /v1/faucet (local mode only). With a chain configured it mints $DOUG on the local chain to
 * the signer's wallet (its associated token account, created if missing; each request its own
 * transaction, so a repeat mints again) and airdrops it a little SOL for fees; the wallet then deposits like anyone else, so the ledger is credited only by
 * deposits. Without a chain it credits the signer's ledger account directly.
 */
export async function faucet(request: Request, env: Env): Promise<Response> {
  const req = await signed(request, env, 'faucet');
  const { amount } = valid(FaucetSchema, req.body);
  if (hasChain(env)) {
    const config = chainConfig(env);
    if (!env.MINT_AUTHORITY_KEY) refuse('CUSTODY__NOT_CONFIGURED', { missing: 'MINT_AUTHORITY_KEY' });
    const mintAuthority = await signerFromSecretKey(env.MINT_AUTHORITY_KEY).catch(() => refuse('CUSTODY__NOT_CONFIGURED', { missing: 'MINT_AUTHORITY_KEY (it is not a 64-byte base58 secret key)' }));
    await req.commit();
    const wallet = req.caller.actor;
    // The memo names this request (signer and nonce, never used twice), so a repeat is a new transaction.
    const ref = `faucet:${req.caller.signer}:${req.caller.nonce}`;
    const minted = await onChain(() => faucetMint(solanaRpc(config.rpcUrl), { mint: config.mint, decimals: config.decimals, mintAuthority, wallet, amount, ref }));
    const body: FaucetResult = { minted: amount.toString(), wallet, tokenAccount: minted.tokenAccount, signature: minted.signature, airdrop: minted.airdrop };
    return json(body, 201);
  }
  await req.commit();
  const ref = `faucet:${req.caller.signer}:${req.caller.nonce}`;
  const result = await accountObject(env, req.caller.actor).execute(req.caller.actor, { type: 'Credit', ref, amount, source: 'faucet' }, { commandId: ref, actor: req.caller.actor, now: req.now });
  if (!result.ok) return errorResponse(result.error);
  const balance = await accountObject(env, req.caller.actor).balance();
  return json({ credited: amount, available: balance.available }, 201);
}
