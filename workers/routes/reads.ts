import { OBJECT_KINDS, OBJECT_NAME, ORDER_ID, type AuditReport, type IntegrityReport, type ObjectKind, type MarketSummary } from '../../durable-objects/contracts/api.ts';
import { decodePublicKey } from '../../durable-objects/contracts/auth.ts';
import { auditLedger } from '../../durable-objects/domain/conservation.ts';
import { reputationScoreSql } from '../../durable-objects/domain/reputation.ts';
import { API_LIMITS, HistoryQuerySchema, JobsQuerySchema, MarketQuerySchema, OrdersQuerySchema, type ORDER_SORTS } from '../../durable-objects/contracts/schemas.ts';
import type { Env } from '../../durable-objects/runtime/env.ts';
import { marketList, type MarketConfig } from '../config.ts';
import { errorResponse, json, refuse } from '../http.ts';
import { amountKey } from '../projector.ts';
import { valid } from '../validate.ts';
import { accountObject, jobObject, marketObject, placementObject, settlementObject, withdrawalObject, type ObjectRpc } from '../../durable-objects/runtime/objects.ts';
import { knownMarket, nextCursor, pageParams, signed } from './common.ts';
import { escrowMode, hasChain } from '../../durable-objects/runtime/chain.ts';
import { custodyCheck, escrowCheck } from '../reconcile.ts';

type Query = Record<string, unknown>;
const DAY_MS = 24 * 3600_000;
/** A fill counts as a trade (count, volume, last price) only once its job paid it. */
const PAID = 'EXISTS (SELECT 1 FROM paid_fills p WHERE p.job_id = t.job_id AND p.replica = t.replica AND p.provider = t.provider)';

async function summaries(env: Env, markets: MarketConfig[], now: number): Promise<MarketSummary[]> {
  if (markets.length === 0) return [];
  const marks = markets.map(() => '?').join(',');
  const ids = markets.map((m) => m.id);
  const [books, trades, last] = await env.DB.batch([
    env.DB.prepare(
      `SELECT market,
         MAX(CASE WHEN kind = 'bid' THEN price_key END) AS best_bid,
         MIN(CASE WHEN kind = 'ask' AND slots_in_use < capacity THEN price_key END) AS best_ask,
         SUM(kind = 'ask') AS asks, SUM(kind = 'bid') AS bids, COUNT(DISTINCT CASE WHEN kind = 'ask' THEN owner END) AS providers
       FROM orders WHERE status = 'open' AND expires_at > ? AND market IN (${marks}) GROUP BY market`,
    ).bind(now, ...ids),
    env.DB.prepare(`SELECT market, COUNT(*) AS n, GROUP_CONCAT(price || '*' || units) AS notional FROM trades t WHERE at > ? AND market IN (${marks}) AND ${PAID} GROUP BY market`).bind(now - DAY_MS, ...ids),
    env.DB.prepare(`SELECT market, price FROM trades t WHERE market IN (${marks}) AND ${PAID} AND at = (SELECT MAX(at) FROM trades u WHERE u.market = t.market AND ${PAID.replaceAll('t.', 'u.')})`).bind(...ids),
  ]);
  const byMarket = <T extends { market: string }>(rows: D1Result<T>): Map<string, T> => new Map(rows.results.map((r) => [r.market, r]));
  const b = byMarket(books as D1Result<{ market: string; best_bid: string | null; best_ask: string | null; asks: number; bids: number; providers: number }>);
  const t = byMarket(trades as D1Result<{ market: string; n: number; notional: string | null }>);
  const l = byMarket(last as D1Result<{ market: string; price: string }>);
  const unpad = (k: string | null | undefined): string | null => (k ? BigInt(k).toString() : null);
  return markets.map((m) => {
    const book = b.get(m.id);
    const tr = t.get(m.id);
    let volume = 0n;
    for (const pair of tr?.notional?.split(',') ?? []) {
      const [p, u] = pair.split('*');
      volume += BigInt(p ?? '0') * BigInt(u ?? '0');
    }
    return {
      market: m.id,
      description: m.description,
      bestBid: unpad(book?.best_bid),
      bestAsk: unpad(book?.best_ask),
      lastPrice: l.get(m.id)?.price ?? null,
      volume24h: volume.toString(),
      trades24h: tr?.n ?? 0,
      openAsks: book?.asks ?? 0,
      openBids: book?.bids ?? 0,
      providers: book?.providers ?? 0,
    };
  });
}

/** GET /v1/markets: a page of the configured markets' summaries. */
export async function listMarkets(request: Request & { query: Query }, env: Env): Promise<Response> {
  const { offset, limit } = pageParams(request.query);
  const items = await summaries(env, marketList(env).slice(offset, offset + limit), Date.now());
  return json({ items, nextCursor: nextCursor(offset, limit, items.length) });
}

/** GET /v1/markets/:market: summary plus live book depth from the market object. */
export async function getMarket(request: Request & { params: Record<string, string>; query: Query }, env: Env): Promise<Response> {
  const market = knownMarket(env, request.params.market ?? '');
  const { depth = API_LIMITS.depth.fallback } = valid(MarketQuerySchema, request.query);
  const config = marketList(env).find((m) => m.id === market)!;
  const [summary] = await summaries(env, [config], Date.now());
  const book = await marketObject(env, market).depth(market, depth);
  return json({ summary, book });
}

/** GET /v1/markets/:market/trades: recent fills, each with `paid` (only paid fills count as the market's trades). */
export async function listTrades(request: Request & { params: Record<string, string>; query: Query }, env: Env): Promise<Response> {
  const market = knownMarket(env, request.params.market ?? '');
  const { offset, limit } = pageParams(request.query);
  const rows = await env.DB.prepare(`SELECT job_id AS jobId, ask_id AS askId, buyer, provider, price, units, replica, at, ${PAID} AS paid FROM trades t WHERE market = ? ORDER BY at DESC, id LIMIT ? OFFSET ?`)
    .bind(market, limit, offset)
    .all<Record<string, unknown>>();
  const items = rows.results.map((r) => ({ ...r, paid: r.paid === 1 }));
  return json({ items, nextCursor: nextCursor(offset, limit, rows.results.length) });
}

const ORDER_COLUMNS = `id, kind, market, owner, status, price, capacity, slots_in_use AS slotsInUse, units, replicas, attributes, expires_at AS expiresAt, created_at AS createdAt,
  COALESCE(r.completed, 0) AS completed, COALESCE(r.lapsed, 0) AS lapsed, COALESCE(r.rejected, 0) AS rejected`;

function orderRow(r: Record<string, unknown>): Record<string, unknown> {
  const { attributes, completed, lapsed, rejected, ...rest } = r;
  return rest.kind === 'ask'
    ? { ...rest, attributes: JSON.parse(String(attributes)), reputation: { completed, lapsed, rejected } }
    : { ...rest, requirements: JSON.parse(String(attributes)), maxPrice: rest.price, price: undefined, capacity: undefined, slotsInUse: undefined };
}

/** GET /v1/asks and /v1/bids: filters over the offers read model. */
export async function listOrders(request: Request & { query: Query }, env: Env, kind: 'ask' | 'bid'): Promise<Response> {
  const q = valid(OrdersQuerySchema, request.query);
  const { offset, limit } = pageParams(request.query);
  const where = ['kind = ?'];
  const binds: unknown[] = [kind];
  if (q.market !== undefined) {
    where.push('market = ?');
    binds.push(knownMarket(env, q.market));
  }
  if (q.owner !== undefined) {
    where.push('owner = ?');
    binds.push(q.owner);
  }
  const status = q.status ?? 'open';
  if (status !== 'all') {
    where.push('status = ?');
    binds.push(status);
    if (status === 'open') {
      where.push('expires_at > ?');
      binds.push(Date.now());
    }
  }
  for (const field of ['accelerator', 'region'] as const) {
    const v = q[field];
    if (v !== undefined) {
      where.push(`${field} = ?`);
      binds.push(v);
    }
  }
  if (q.minMemoryGb !== undefined) {
    where.push('memory_gb >= ?');
    binds.push(Number(q.minMemoryGb));
  }
  if (q.maxPrice !== undefined) {
    where.push('price_key <= ?');
    binds.push(amountKey(q.maxPrice));
  }
  if (q.minCompleted !== undefined) {
    where.push('COALESCE(r.completed, 0) >= ?');
    binds.push(Number(q.minCompleted));
  }
  const sorts: Record<(typeof ORDER_SORTS)[number], string> = {
    price: 'price_key ASC, created_at ASC',
    '-price': 'price_key DESC, created_at ASC',
    newest: 'created_at DESC',
    memory: 'memory_gb DESC, price_key ASC',
    reputation: `${reputationScoreSql((f) => `COALESCE(r.${f}, 0)`)} DESC, price_key ASC`,
  };
  const order = sorts[q.sort ?? (kind === 'ask' ? 'price' : '-price')];
  const rows = await env.DB.prepare(`SELECT ${ORDER_COLUMNS} FROM orders LEFT JOIN providers r ON r.provider = orders.owner WHERE ${where.join(' AND ')} ORDER BY ${order}, id LIMIT ? OFFSET ?`)
    .bind(...binds, limit, offset)
    .all();
  return json({ items: rows.results.map(orderRow), nextCursor: nextCursor(offset, limit, rows.results.length) });
}

/** The job id of a `/v1/jobs/:id` path (a job's id is its bid's id), or API__UNKNOWN_JOB. */
export function jobIdParam(params: Record<string, string>): string {
  const id = params.id ?? '';
  const m = ORDER_ID.exec(id);
  if (!m || m[1] !== 'bid') refuse('API__UNKNOWN_JOB', { jobId: id.slice(0, 80) });
  return id;
}

/** GET /v1/jobs/:id: the job's live view from its object. */
export async function getJob(request: Request & { params: Record<string, string> }, env: Env): Promise<Response> {
  const id = jobIdParam(request.params);
  const view = await jobObject(env, id).view();
  if (!view) refuse('API__UNKNOWN_JOB', { jobId: id });
  return json({ job: view });
}

/** GET /v1/jobs/:id/result (signed by the buyer): the verified outputs, served once. */
export async function jobResult(request: Request & { params: Record<string, string> }, env: Env): Promise<Response> {
  const id = jobIdParam(request.params);
  const req = await signed(request, env, 'jobResult');
  await req.commit();
  const result = await jobObject(env, id).result(req.caller.actor);
  return result.ok ? json(result.value) : errorResponse(result.error);
}

/** GET /v1/jobs/:id/history: the job's events; API__UNKNOWN_JOB (404) for a job that does not exist, as GET /v1/jobs/:id. */
export async function jobHistory(request: Request & { params: Record<string, string>; query: Query }, env: Env): Promise<Response> {
  const id = jobIdParam(request.params);
  const page = afterLimit(request.query);
  const job = jobObject(env, id);
  if (!(await job.view())) refuse('API__UNKNOWN_JOB', { jobId: id });
  return eventPage(await job.history(...page), request.query);
}

/** GET /v1/jobs?buyer=|provider= */
export async function listJobs(request: Request & { query: Query }, env: Env): Promise<Response> {
  const { buyer, provider } = valid(JobsQuerySchema, request.query);
  const { offset, limit } = pageParams(request.query);
  const rows = provider
    ? await env.DB.prepare('SELECT j.view FROM jobs j JOIN job_providers p ON p.job_id = j.id WHERE p.provider = ? ORDER BY j.created_at DESC, j.id LIMIT ? OFFSET ?').bind(provider, limit, offset).all<{ view: string }>()
    : buyer
      ? await env.DB.prepare('SELECT view FROM jobs WHERE buyer = ? ORDER BY created_at DESC, id LIMIT ? OFFSET ?').bind(buyer, limit, offset).all<{ view: string }>()
      : await env.DB.prepare('SELECT view FROM jobs ORDER BY created_at DESC, id LIMIT ? OFFSET ?').bind(limit, offset).all<{ view: string }>();
  return json({ items: rows.results.map((r) => JSON.parse(r.view) as unknown), nextCursor: nextCursor(offset, limit, rows.results.length) });
}

function accountKey(params: Record<string, string>): string {
  const key = params.key ?? '';
  if (!decodePublicKey(key)) refuse('API__INVALID_INPUT', { field: 'key', problem: 'must be a base58 public key' });
  return key;
}

/**
 * GET /v1/accounts/:key: live balance from the account object; for an escrow-funded account also
 * its settlement on chain (payouts pending until their batch is final, then paid).
 */
export async function getAccount(request: Request & { params: Record<string, string> }, env: Env): Promise<Response> {
  const key = accountKey(request.params);
  const balance = await accountObject(env, key).balance();
  const settlement = balance.escrow ? await settlementObject(env, key).view() : null;
  return json({ account: key, ...balance, ...(balance.escrow && { settlement }) });
}

/** GET /v1/accounts/:key/holds: a page of the account's holds. */
export async function getHolds(request: Request & { params: Record<string, string>; query: Query }, env: Env): Promise<Response> {
  const key = accountKey(request.params);
  const { offset, limit } = pageParams(request.query);
  const balance = await accountObject(env, key).balance();
  const items = balance.holds.slice(offset, offset + limit);
  return json({ items, nextCursor: nextCursor(offset, limit, items.length) });
}

/** GET /v1/accounts/:key/ledger: the account's events, oldest first. */
export async function getLedger(request: Request & { params: Record<string, string>; query: Query }, env: Env): Promise<Response> {
  const key = accountKey(request.params);
  // Nonces are bookkeeping of the signing scheme, not money: the ledger leaves them out.
  const rows = await accountObject(env, key).history(...afterLimit(request.query));
  return eventPage(rows, request.query, (type) => type !== 'NonceRecorded');
}

function afterLimit(query: Query): [number, number] {
  const { cursor, limit = API_LIMITS.historyLimit.fallback } = valid(HistoryQuerySchema, query);
  return [cursor ? Number(cursor.slice(1)) : 0, limit];
}

function eventPage(rows: { seq: number; type: string; at: number; actor: string; data: string }[], query: Query, keep: (type: string) => boolean = () => true): Response {
  const limit = afterLimit(query)[1];
  const lastSeq = rows[rows.length - 1]?.seq;
  const items = rows.filter((r) => keep(r.type)).map((r) => {
    const { type: _t, ...data } = JSON.parse(r.data) as Record<string, unknown>;
    return { seq: r.seq, type: r.type, at: r.at, actor: r.actor, data };
  });
  return json({ items, nextCursor: rows.length === limit && lastSeq !== undefined ? `s${lastSeq}` : null });
}

/** GET /v1/audit: conservation of funds over every projected account. */
export async function audit(_req: Request, env: Env): Promise<Response> {
  const [rows, lag] = await env.DB.batch([
    env.DB.prepare('SELECT id, available, held, credited, withdrawn, payouts_sent, payouts_received, payouts_on_chain, escrow FROM accounts'),
    env.DB.prepare(
      "SELECT substr(object, 1, instr(object, ':') - 1) AS kind, COUNT(*) AS objects, SUM(head - seq) AS events FROM projection_cursors WHERE seq < head GROUP BY kind",
    ),
  ]) as [D1Result<Record<string, string>>, D1Result<{ kind: string; objects: number; events: number }>];
  const byKind = Object.fromEntries(lag.results.map((r) => [r.kind, { objectsBehind: r.objects, eventsBehind: r.events }]));
  const behind = lag.results.reduce((t, r) => ({ objects: t.objects + r.objects, events: t.events + r.events }), { objects: 0, events: 0 });
  const a = auditLedger(
    rows.results.map((r) => ({
      id: r.id!,
      available: BigInt(r.available!),
      held: BigInt(r.held!),
      credited: BigInt(r.credited!),
      withdrawn: BigInt(r.withdrawn!),
      sent: BigInt(r.payouts_sent!),
      received: BigInt(r.payouts_received!),
      onChain: BigInt(r.payouts_on_chain ?? '0'),
      escrow: Number(r.escrow ?? 0) === 1,
    })),
  );
  const report: AuditReport = {
    ok: a.ok && behind.objects === 0,
    accounts: a.accounts,
    available: a.available.toString(),
    held: a.held.toString(),
    credited: a.credited.toString(),
    withdrawn: a.withdrawn.toString(),
    inFlight: a.inFlight.toString(),
    onChain: a.onChain.toString(),
    feePool: a.feePool.toString(),
    violations: a.violations,
    readModel: { objectsBehind: behind.objects, eventsBehind: behind.events, byKind },
    stale: behind.objects > 0,
  };
  // With a chain, custody's on-chain balance must match what the ledger owes: everything but what
  // left for the chain from escrows and what the ledger keeps for escrow-funded accounts.
  if (hasChain(env)) {
    report.custody = await custodyCheck(env, a.credited - a.withdrawn - a.onChain - a.escrowed);
    report.ok = report.ok && report.custody.ok;
  }
  if (escrowMode(env)) {
    report.escrow = await escrowCheck(env, a.escrowed);
    report.ok = report.ok && report.escrow.ok;
  }
  return json(report);
}


/** Each kind's object, by name. */
const OBJECTS: Record<ObjectKind, (env: Env, id: string) => ObjectRpc<unknown>> = {
  market: marketObject,
  job: jobObject,
  account: accountObject,
  withdrawal: withdrawalObject,
  placement: placementObject,
  settlement: settlementObject,
};

/**
 * GET /v1/objects/:kind/:id/integrity (local mode only: a replay from zero reads the whole log, so a
 * deployment does not offer it to anyone): the object's live state hash against a replay of its log.
 */
export async function integrity(request: Request & { params: Record<string, string> }, env: Env): Promise<Response> {
  const { kind, id } = request.params as { kind: string; id: string };
  if (!(OBJECT_KINDS as readonly string[]).includes(kind)) refuse('API__INVALID_INPUT', { field: 'kind', problem: `must be one of ${OBJECT_KINDS.join(', ')}` });
  if (!OBJECT_NAME.test(id)) refuse('API__INVALID_INPUT', { field: 'id', problem: 'must be 1-128 letters, digits, _ or -' });
  const check = await OBJECTS[kind as ObjectKind](env, id).integrity();
  const report: IntegrityReport = { kind: kind as ObjectKind, id, ...check, consistent: check.replay.seq === check.seq && check.replay.hash === check.hash };
  return json(report);
}
