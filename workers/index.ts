import { Router, type IRequest } from 'itty-router';
import type { Env, ProjectionMessage } from '../durable-objects/runtime/env.ts';
import { ROUTES } from '../durable-objects/contracts/api.ts';
import { openApiDocument, routeQueryParameters } from '../durable-objects/contracts/openapi.ts';
import { domainError } from '../durable-objects/domain/errors.ts';
import { isLocalMode } from './config.ts';
import { ApiFailure, discardUnread, handleError, json, refuse } from './http.ts';
import { project } from './projector.ts';
import { agentSocket, getModel, putInputs, putModel } from './routes/blobs.ts';
import { getModelInfo } from './routes/model-info.ts';
import { chainInfo, deposit, escrowExit } from './routes/deposits.ts';
import { faucet } from './routes/faucet.ts';
import { chatCompletions, listChatFaults, listChatModels } from './routes/chat.ts';
import { createApiKey, listApiKeys, revokeApiKey } from './routes/api-keys.ts';
import { cancelOrder, placeAsk, placeAskBatch, placeBid } from './routes/orders.ts';
import { revokeSession } from './routes/sessions.ts';
import { getWithdrawal, listWithdrawals, requestWithdrawal } from './routes/withdrawals.ts';
import { cancelJob, challengeJob } from './routes/jobs.ts';
import { audit, integrity, getAccount, getHolds, getJob, getLedger, getMarket, jobHistory, jobResult, listJobs, listMarkets, listOrders, listTrades } from './routes/reads.ts';

export { AccountObject } from '../durable-objects/runtime/account-object.ts';
export { JobObject } from '../durable-objects/runtime/job-object.ts';
export { MarketObject } from '../durable-objects/runtime/market-object.ts';
export { WithdrawalObject } from '../durable-objects/runtime/withdrawal-object.ts';
export { SettlementObject } from '../durable-objects/runtime/settlement-object.ts';
export { PlacementObject } from '../durable-objects/runtime/placement-object.ts';

type Req = IRequest & Request;
type RouteId = keyof typeof ROUTES;
type Handler = (r: Req, env: Env) => Response | Promise<Response>;

/** Each route of the contract (durable-objects/contracts/api.ts ROUTES) and what serves it. */
const HANDLERS: Record<RouteId, Handler> = {
  health: (_r, env) => json({ ok: true, localMode: isLocalMode(env) }),
  openapi: (r) => json(openApiDocument(new URL(r.url).origin)),
  markets: (r, env) => listMarkets(r, env),
  market: (r, env) => getMarket(r, env),
  trades: (r, env) => listTrades(r, env),
  agentSocket: (r, env) => agentSocket(r, env),
  uploadModel: (r, env) => putModel(r, env),
  model: (r, env) => getModel(r, env),
  modelInfo: (r, env) => getModelInfo(r, env),
  uploadInputs: (r, env) => putInputs(r, env),
  asks: (r, env) => listOrders(r, env, 'ask'),
  placeAsk: (r, env) => placeAsk(r, env),
  placeAskBatch: (r, env) => placeAskBatch(r, env),
  cancelAsk: (r, env) => cancelOrder(r, env, 'ask'),
  bids: (r, env) => listOrders(r, env, 'bid'),
  placeBid: (r, env) => placeBid(r, env),
  cancelBid: (r, env) => cancelOrder(r, env, 'bid'),
  jobs: (r, env) => listJobs(r, env),
  job: (r, env) => getJob(r, env),
  jobHistory: (r, env) => jobHistory(r, env),
  jobResult: (r, env) => jobResult(r, env),
  challengeJob: (r, env) => challengeJob(r, env),
  cancelJob: (r, env) => cancelJob(r, env),
  account: (r, env) => getAccount(r, env),
  holds: (r, env) => getHolds(r, env),
  ledger: (r, env) => getLedger(r, env),
  withdrawals: (r, env) => listWithdrawals(r, env),
  requestWithdrawal: (r, env) => requestWithdrawal(r, env),
  withdrawal: (r, env) => getWithdrawal(r, env),
  audit: (r, env) => audit(r, env),
  integrity: (r, env) => integrity(r, env),
  chain: (r, env) => chainInfo(r, env),
  deposit: (r, env) => deposit(r, env),
  escrowExit: (r, env) => escrowExit(r, env),
  revokeSession: (r, env) => revokeSession(r, env),
  faucet: (r, env) => faucet(r, env),
  createApiKey: (r, env) => createApiKey(r, env),
  apiKeys: (r, env) => listApiKeys(r, env),
  revokeApiKey: (r, env) => revokeApiKey(r, env),
  chatModels: (r, env) => listChatModels(r, env),
  chatCompletions: (r, env) => chatCompletions(r, env),
  chatFaults: (r, env) => listChatFaults(r, env),
};

/** Routes that exist only in some deployments: the faucet and the integrity check only in local mode (elsewhere an unknown route). */
const AVAILABLE: Partial<Record<RouteId, (env: Env) => boolean>> = { faucet: isLocalMode, integrity: isLocalMode };

/** GET routes whose GET is not safe to repeat without its body (the result is served once): no HEAD. */
const NO_HEAD: ReadonlySet<RouteId> = new Set(['jobResult']);

/** A route's method and path, and the pattern its path matches. */
const TABLE = (Object.entries(ROUTES) as [RouteId, string][]).map(([id, route]) => {
  const [method, path] = route.split(' ') as [string, string];
  const pattern = new RegExp(`^${path.replace(/:[A-Za-z0-9_]+/g, '[^/]+')}$`);
  return { id, method, path, pattern };
});

/** Unknown query parameters are refused on every route (one rule), naming the parameter and the ones the route takes. */
function checkQuery(id: RouteId, url: URL): void {
  const known = routeQueryParameters(id);
  for (const name of url.searchParams.keys()) {
    if (!known.includes(name)) {
      refuse('API__INVALID_INPUT', { field: name.slice(0, 64), problem: `is not a query parameter of ${ROUTES[id]} (${known.length > 0 ? `it takes ${known.join(', ')}` : 'it takes none'})` });
    }
  }
}

const router = Router<Req, [Env, ExecutionContext]>({ catch: handleError });
for (const { id, method, path } of TABLE) {
  router[method.toLowerCase() as 'get'](path, (r: Req, env: Env) => {
    if (AVAILABLE[id] && !AVAILABLE[id](env)) return undefined;
    checkQuery(id, new URL(r.url));
    return HANDLERS[id](r, env);
  });
}
router.all('*', (r: Req, env: Env) => unrouted(r, env));

/** The methods a path is served with (HEAD beside each GET that allows it), for 405 and its Allow header. */
function allowedMethods(pathname: string, env: Env): string[] {
  const methods = new Set<string>();
  for (const { id, method, pattern } of TABLE) {
    if (!pattern.test(pathname) || (AVAILABLE[id] && !AVAILABLE[id](env))) continue;
    methods.add(method);
    if (method === 'GET' && !NO_HEAD.has(id)) methods.add('HEAD');
  }
  return [...methods];
}

/** No route for the method and path: 405 with Allow when the path exists with other methods, else 404. */
function unrouted(r: Req, env: Env): Response {
  const path = new URL(r.url).pathname;
  return handleError(unroutedFailure(r.method, path, allowedMethods(path, env)));
}

function unroutedFailure(method: string, path: string, allow: string[]): ApiFailure {
  if (allow.length === 0) return new ApiFailure(domainError('API__NOT_FOUND', { method, path }));
  return new ApiFailure(domainError('API__METHOD_NOT_ALLOWED', { method, path, allowed: allow }), { allow: allow.join(', ') });
}

/**
 * HEAD answers as GET would, without the body, on every GET route but those whose GET has an
 * effect (NO_HEAD); those, like any path, answer 405 with Allow.
 */
async function head(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
  const pathname = new URL(request.url).pathname;
  const allow = allowedMethods(pathname, env);
  const res = allow.includes('HEAD') ? await router.fetch(new Request(request.url, { method: 'GET', headers: request.headers }) as Req, env, ctx) : handleError(unroutedFailure('HEAD', pathname, allow));
  await res.body?.cancel();
  return new Response(null, { status: res.status, statusText: res.statusText, headers: res.headers });
}

/**
 * Every request: routed; a body the route began to read but left (a 413 while streaming) is read to
 * its end, discarded, before the answer goes out (discardUnread). A body never touched (refused
 * before reading: unsigned, declared too long, wrong type) is left alone.
 */
async function fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
  const response = request.method === 'HEAD' ? await head(request, env, ctx) : await router.fetch(request as Req, env, ctx);
  if (request.bodyUsed && request.body && !request.body.locked) await discardUnread(request);
  return response;
}

export default {
  fetch,
  queue: (batch: MessageBatch<ProjectionMessage>, env: Env) => project(batch, env),
} satisfies ExportedHandler<Env, ProjectionMessage>;
