import type { Env } from '../../durable-objects/runtime/env.ts';
import { jobObject, placementObject } from '../../durable-objects/runtime/objects.ts';
import { EmptySchema } from '../../durable-objects/contracts/schemas.ts';
import { errorResponse, json } from '../http.ts';
import { valid } from '../validate.ts';
import { signed } from './common.ts';
import { admitHold } from '../escrow-admission.ts';
import { jobIdParam } from './reads.ts';

/**
 * POST /v1/jobs/:id/challenge (signed by the buyer): disputes a single-replica result inside its
 * window. The challenge's placement process asks the job first (nothing is written for a caller
 * the job refuses), holds the re-run's cost, raises the challenge, and releases the hold if the
 * job refuses it after all.
 */
export async function challengeJob(request: Request & { params: Record<string, string> }, env: Env): Promise<Response> {
  const id = jobIdParam(request.params);
  const req = await signed(request, env, 'challengeJob');
  valid(EmptySchema, req.body);
  await admitHold(env, req.caller.actor, 0n);
  await req.commit();
  const result = await placementObject(env, `challenge_${id}`).challenge(id, { commandId: `challenge:${id}`, actor: req.caller.actor, now: req.now });
  return result.ok ? json(result.value) : errorResponse(result.error);
}

/** POST /v1/jobs/:id/cancel (signed by the buyer): before any result, the job is refunded in full. */
export async function cancelJob(request: Request & { params: Record<string, string> }, env: Env): Promise<Response> {
  const id = jobIdParam(request.params);
  const req = await signed(request, env, 'cancelJob');
  valid(EmptySchema, req.body);
  await req.commit();
  const job = jobObject(env, id);
  // The caller is part of the command's id: a repeat answers the caller's own first outcome, never the buyer's to someone else.
  const result = await job.execute(id, { type: 'CancelJob' }, { actor: req.caller.actor, now: req.now, commandId: `cancel-job:${id}:${req.caller.actor}` });
  return result.ok ? json({ job: await job.view() }) : errorResponse(result.error);
}
