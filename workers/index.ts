import { Router, type IRequest } from 'itty-router';
import type { Env, ProjectionMessage } from '../durable-objects/runtime/env.ts';
import { openApiDocument } from '../durable-objects/contracts/openapi.ts';
import { isLocalMode } from './config.ts';
import { handleError, json, refuse } from './http.ts';
import { project } from './projector.ts';
import { agentSocket, getModel, putInputs, putModel } from './routes/blobs.ts';
import { chainInfo, deposit } from './routes/deposits.ts';
import { faucet } from './routes/faucet.ts';
import { cancelOrder, placeAsk, placeAskBatch, placeBid } from './routes/orders.ts';
import { revokeSession } from './routes/sessions.ts';
import { getWithdrawal, listWithdrawals, requestWithdrawal } from './routes/withdrawals.ts';
import { cancelJob, challengeJob } from './routes/jobs.ts';
import { audit, getAccount, getHolds, getJob, getLedger, getMarket, jobHistory, jobResult, listJobs, listMarkets, listOrders, listTrades } from './routes/reads.ts';

export { AccountObject } from '../durable-objects/runtime/account-object.ts';
export { JobObject } from '../durable-objects/runtime/job-object.ts';
export { MarketObject } from '../durable-objects/runtime/market-object.ts';
export { WithdrawalObject } from '../durable-objects/runtime/withdrawal-object.ts';
export { PlacementObject } from '../durable-objects/runtime/placement-object.ts';

type Req = IRequest & Request;

const router = Router<Req, [Env, ExecutionContext]>({ catch: handleError });

router
  .get('/v1/health', (_r, env) => json({ ok: true, localMode: isLocalMode(env) }))
  .get('/v1/openapi.json', (r) => json(openApiDocument(new URL(r.url).origin)))
  .get('/v1/markets', (r, env) => listMarkets(r, env))
  .get('/v1/markets/:market', (r, env) => getMarket(r, env))
  .get('/v1/markets/:market/trades', (r, env) => listTrades(r, env))
  .get('/v1/markets/:market/agent', (r, env) => agentSocket(r, env))
  .put('/v1/models', (r, env) => putModel(r, env))
  .get('/v1/models/:sha256', (r, env) => getModel(r, env))
  .put('/v1/inputs', (r, env) => putInputs(r, env))
  .get('/v1/asks', (r, env) => listOrders(r, env, 'ask'))
  .post('/v1/asks', (r, env) => placeAsk(r, env))
  .post('/v1/asks/batch', (r, env) => placeAskBatch(r, env))
  .delete('/v1/asks/:id', (r, env) => cancelOrder(r, env, 'ask'))
  .get('/v1/bids', (r, env) => listOrders(r, env, 'bid'))
  .post('/v1/bids', (r, env) => placeBid(r, env))
  .delete('/v1/bids/:id', (r, env) => cancelOrder(r, env, 'bid'))
  .get('/v1/jobs', (r, env) => listJobs(r, env))
  .get('/v1/jobs/:id', (r, env) => getJob(r, env))
  .get('/v1/jobs/:id/history', (r, env) => jobHistory(r, env))
  .get('/v1/jobs/:id/result', (r, env) => jobResult(r, env))
  .post('/v1/jobs/:id/challenge', (r, env) => challengeJob(r, env))
  .post('/v1/jobs/:id/cancel', (r, env) => cancelJob(r, env))
  .get('/v1/accounts/:key', (r, env) => getAccount(r, env))
  .get('/v1/accounts/:key/holds', (r, env) => getHolds(r, env))
  .get('/v1/accounts/:key/ledger', (r, env) => getLedger(r, env))
  .get('/v1/accounts/:key/withdrawals', (r, env) => listWithdrawals(r, env))
  .post('/v1/withdrawals', (r, env) => requestWithdrawal(r, env))
  .get('/v1/withdrawals/:id', (r, env) => getWithdrawal(r, env))
  .get('/v1/audit', (r, env) => audit(r, env))
  .get('/v1/chain', (r, env) => chainInfo(r, env))
  .post('/v1/deposits', (r, env) => deposit(r, env))
  .post('/v1/sessions/revoke', (r, env) => revokeSession(r, env))
  // The faucet exists only in local mode: elsewhere it is an unknown route like any other.
  .post('/v1/faucet', (r, env) => (isLocalMode(env) ? faucet(r, env) : undefined))
  .all('/v1/*', (r) => refuse('API__NOT_FOUND', { method: r.method, path: new URL(r.url).pathname }))
  .all('*', (r) => refuse('API__NOT_FOUND', { method: r.method, path: new URL(r.url).pathname }));

export default {
  fetch: (request: Request, env: Env, ctx: ExecutionContext) => router.fetch(request as Req, env, ctx),
  queue: (batch: MessageBatch<ProjectionMessage>, env: Env) => project(batch, env),
} satisfies ExportedHandler<Env, ProjectionMessage>;
