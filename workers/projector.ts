import type { Env, ProjectionMessage } from '../durable-objects/runtime/env.ts';
import { ORDER_ID } from '../durable-objects/contracts/api.ts';
import type { ProjectorProgress } from '../durable-objects/runtime/projection.ts';

type Row = Record<string, unknown>;

/** Zero-padded decimal so that text order is numeric order. */
export const amountKey = (v: unknown): string => String(v ?? '0').padStart(20, '0');

/**
 * Queue consumer: projects events and object views into D1. Each event applies once (its id is
 * recorded in the same D1 batch); views carry the object's sequence and only ever move forward.
 * After a message, the object's projection cursor moves to its last event if no earlier run is
 * missing: the object re-sends what the cursor does not cover (docs/architecture.md, "Read models").
 *
 * A whole queue batch costs two D1 round trips (one read of which events are applied, one write
 * batch), not two per event: the projector shares workerd's one thread with the objects, and
 * per-event round trips made it the busiest thing in the process under load. If the batch fails
 * (one bad message, or a duplicate delivered concurrently), each message is tried alone, so one
 * message never holds back the rest.
 */
export async function project(batch: MessageBatch<ProjectionMessage>, env: Env): Promise<void> {
  try {
    await projectMany(env.DB, batch.messages.map((m) => m.body), progressOf(batch.messages));
    batch.ackAll();
    return;
  } catch {
    // Tried one by one below; a message that fails alone is logged and retried.
  }
  for (const message of batch.messages) {
    try {
      await projectMany(env.DB, [message.body], progressOf([message]));
      message.ack();
    } catch (error) {
      console.warn(`projection of ${describe(message.body)} failed: ${String(error)}`);
      message.retry({ delaySeconds: 1 });
    }
  }
}

/** Where applying these messages takes the projector: the latest of their send times, and now. */
function progressOf(messages: readonly Message<ProjectionMessage>[]): ProjectorProgress {
  return { sentUntil: Math.max(...messages.map((m) => m.timestamp.getTime())), ranAt: Date.now() };
}

function describe(m: ProjectionMessage): string {
  return `${m.source}:${m.object}:${m.first}..${m.last}${m.view === undefined ? '' : ' and view'}`;
}

/** D1 binds at most 100 parameters per statement. */
const IDS_PER_QUERY = 100;
/**
 * Statements per D1 write batch. Messages are never split across batches, and everything a
 * message writes is idempotent (event ids, forward-only views, the cursor rule), so a failure after
 * an earlier batch landed is repaired by trying again.
 */
const STATEMENTS_PER_BATCH = 400;

/**
 * Projects messages in order: one read of the applied event ids, then the writes in few batches,
 * the last of which also records the projector's progress (objects read it before re-sending).
 */
async function projectMany(db: D1Database, messages: readonly ProjectionMessage[], progress: ProjectorProgress): Promise<void> {
  const eventId = (m: ProjectionMessage, seq: number) => `${m.source}:${m.object}:${seq}`;
  const ids: string[] = [];
  for (const m of messages) if (m.source === 'market' || m.source === 'job') for (const e of m.events) ids.push(eventId(m, e.seq));
  const applied = await appliedAmong(db, ids);
  const pending: D1PreparedStatement[] = [];
  for (const m of messages) {
    const statements: D1PreparedStatement[] = [];
    // Market events feed offers and trades, job events feed reputation; accounts and withdrawals come as views.
    if (m.source === 'market' || m.source === 'job') {
      for (const e of m.events) {
        const id = eventId(m, e.seq);
        if (applied.has(id)) continue;
        applied.add(id);
        const event = { ...(JSON.parse(e.data) as Row), type: e.type };
        // A duplicate delivered concurrently fails on the applied_events key and rolls the batch back.
        statements.push(db.prepare('INSERT INTO applied_events (event_id) VALUES (?)').bind(id));
        statements.push(...(m.source === 'market' ? marketStatements(db, m.object, e.seq, e.at, event) : jobStatements(db, m.object, event)));
      }
    }
    if (m.view !== undefined) statements.push(...viewStatements(db, m.source, m.object, m.last, m.view));
    statements.push(
      db
        .prepare(
          `INSERT INTO projection_cursors (object, seq, head) VALUES (?1, CASE WHEN ?2 <= 1 THEN ?3 ELSE 0 END, ?4)
           ON CONFLICT (object) DO UPDATE SET seq = CASE WHEN projection_cursors.seq >= ?2 - 1 AND projection_cursors.seq < ?3 THEN ?3 ELSE projection_cursors.seq END,
             head = MAX(projection_cursors.head, ?4)`,
        )
        .bind(`${m.source}:${m.object}`, m.first, m.last, m.head),
    );
    if (pending.length > 0 && pending.length + statements.length > STATEMENTS_PER_BATCH) await db.batch(pending.splice(0));
    pending.push(...statements);
  }
  pending.push(
    db
      .prepare(
        `INSERT INTO projector_progress (id, sent_until, ran_at) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET sent_until = MAX(projector_progress.sent_until, ?1), ran_at = MAX(projector_progress.ran_at, ?2)`,
      )
      .bind(progress.sentUntil, progress.ranAt),
  );
  await db.batch(pending);
}

/** Which of these event ids are already applied (one round trip: the reads go in one batch). */
async function appliedAmong(db: D1Database, ids: readonly string[]): Promise<Set<string>> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return new Set();
  const reads: D1PreparedStatement[] = [];
  for (let i = 0; i < unique.length; i += IDS_PER_QUERY) {
    const chunk = unique.slice(i, i + IDS_PER_QUERY);
    reads.push(db.prepare(`SELECT event_id FROM applied_events WHERE event_id IN (${chunk.map(() => '?').join(', ')})`).bind(...chunk));
  }
  const results = await db.batch<{ event_id: string }>(reads);
  return new Set(results.flatMap((r) => r.results.map((row) => row.event_id)));
}

function marketStatements(db: D1Database, market: string, seq: number, at: number, e: Row): D1PreparedStatement[] {
  const upsertStatus = (id: unknown, status: string) =>
    db
      .prepare(
        `INSERT INTO orders (id, market, status, updated_seq) VALUES (?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated_seq = excluded.updated_seq WHERE orders.updated_seq < excluded.updated_seq`,
      )
      .bind(String(id), market, status, seq);
  switch (e.type) {
    case 'AskPlaced': {
      const attributes = (e.attributes ?? {}) as Row;
      return [
        db
          .prepare(
            `INSERT INTO orders (id, kind, market, owner, status, price, price_key, capacity, attributes, accelerator, memory_gb, region, expires_at, created_at, updated_seq)
             VALUES (?, 'ask', ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET kind = 'ask', owner = excluded.owner, price = excluded.price, price_key = excluded.price_key,
               capacity = excluded.capacity, attributes = excluded.attributes, accelerator = excluded.accelerator, memory_gb = excluded.memory_gb,
               region = excluded.region, expires_at = excluded.expires_at, created_at = excluded.created_at`,
          )
          .bind(
            String(e.askId),
            market,
            String(e.owner),
            String(e.price),
            amountKey(e.price),
            Number(e.capacity),
            JSON.stringify(attributes),
            typeof attributes.accelerator === 'string' ? attributes.accelerator : null,
            typeof attributes.memoryGb === 'number' ? attributes.memoryGb : null,
            typeof attributes.region === 'string' ? attributes.region : null,
            Number(e.expiresAt),
            at,
            seq,
          ),
      ];
    }
    case 'BidPlaced':
      return [
        db
          .prepare(
            `INSERT INTO orders (id, kind, market, owner, status, price, price_key, units, replicas, attributes, expires_at, created_at, updated_seq)
             VALUES (?, 'bid', ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET kind = 'bid', owner = excluded.owner, price = excluded.price, price_key = excluded.price_key,
               units = excluded.units, replicas = excluded.replicas, attributes = excluded.attributes, expires_at = excluded.expires_at, created_at = excluded.created_at`,
          )
          .bind(String(e.bidId), market, String(e.owner), String(e.maxPrice), amountKey(e.maxPrice), Number(e.units), Number(e.replicas), JSON.stringify(e.requirements ?? []), Number(e.expiresAt), at, seq),
      ];
    case 'BidMatched': {
      const fills = (e.fills ?? []) as Row[];
      // A bid matched on arrival never rested, so this is its first row; one that rested only changes status.
      return [
        db
          .prepare(
            `INSERT INTO orders (id, kind, market, owner, status, price, price_key, units, replicas, attributes, expires_at, created_at, updated_seq)
             VALUES (?, 'bid', ?, ?, 'matched', ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET status = 'matched', updated_seq = excluded.updated_seq WHERE orders.updated_seq < excluded.updated_seq`,
          )
          .bind(String(e.bidId), market, String(e.buyer), String(e.maxPrice), amountKey(e.maxPrice), Number(e.units), Number(e.replicas), JSON.stringify(e.requirements ?? []), at, at, seq),
        ...fills.flatMap((f) => tradeStatements(db, market, at, { jobId: e.bidId, buyer: e.buyer, units: e.units, ...f })),
      ];
    }
    case 'ReplicaMatched':
      // A re-matched or tie-breaker replica: its event names no buyer or units; the job's first fill has them.
      return tradeStatements(db, market, at, { ...e, buyer: null, units: null });
    case 'AskCancelled':
    case 'BidCancelled':
      return [upsertStatus(e.orderId ?? e.askId ?? e.bidId, 'cancelled')];
    case 'AskExpired':
    case 'BidExpired':
      return [upsertStatus(e.orderId ?? e.askId ?? e.bidId, 'expired')];
    case 'AskSuspended':
      return [upsertStatus(e.askId, 'suspended')];
    case 'AskResumed':
      return [upsertStatus(e.askId, 'open')];
    case 'SlotReleased':
      return [db.prepare('UPDATE orders SET slots_in_use = slots_in_use - 1 WHERE id = ?').bind(String(e.askId))];
    default:
      return [];
  }
}

/** From job events: provider reputation (paid replicas, lapsed leases, rejected results) and the fills that were paid. */
function jobStatements(db: D1Database, jobId: string, e: Row): D1PreparedStatement[] {
  const bump = (provider: unknown, column: 'completed' | 'lapsed' | 'rejected') =>
    db.prepare(`INSERT INTO providers (provider, ${column}) VALUES (?, 1) ON CONFLICT (provider) DO UPDATE SET ${column} = ${column} + 1`).bind(String(provider));
  switch (e.type) {
    case 'JobSettled':
      return ((e.payouts ?? []) as Row[]).flatMap((p) => [
        bump(p.provider, 'completed'),
        db.prepare('INSERT OR IGNORE INTO paid_fills (job_id, replica, provider) VALUES (?, ?, ?)').bind(jobId, Number(p.replica), String(p.provider)),
      ]);
    case 'LeaseExpired':
      return [bump(e.provider, 'lapsed')];
    case 'ReplicaRejected':
      return [bump(e.provider, 'rejected')];
    default:
      return [];
  }
}

function tradeStatements(db: D1Database, market: string, at: number, f: Row): D1PreparedStatement[] {
  return [
    db
      .prepare(
        `INSERT OR IGNORE INTO trades (id, market, job_id, ask_id, buyer, provider, price, price_key, units, replica, at)
         SELECT ?1, ?2, ?3, ?4, COALESCE(?5, (SELECT buyer FROM trades WHERE job_id = ?3 AND buyer <> '' LIMIT 1), ''), ?6, ?7, ?8,
                COALESCE(?9, (SELECT units FROM trades WHERE job_id = ?3 AND units > 0 LIMIT 1), 0), ?10, ?11`,
      )
      .bind(
        `${String(f.jobId)}:${String(f.replica)}:${String(f.askId)}`,
        market,
        String(f.jobId),
        String(f.askId),
        f.buyer === null || f.buyer === undefined ? null : String(f.buyer),
        String(f.provider),
        String(f.price),
        amountKey(f.price),
        f.units === null || f.units === undefined ? null : Number(f.units),
        Number(f.replica),
        at,
      ),
    db.prepare('UPDATE orders SET slots_in_use = slots_in_use + 1 WHERE id = ?').bind(String(f.askId)),
  ];
}

function viewStatements(db: D1Database, source: ProjectionMessage['source'], object: string, seq: number, view: string): D1PreparedStatement[] {
  const v = JSON.parse(view) as Row;
  if (source === 'account') {
    return [
      db
        .prepare(
          `INSERT INTO accounts (id, available, held, credited, withdrawn, payouts_sent, payouts_received, payouts_on_chain, escrow, updated_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET available = excluded.available, held = excluded.held, credited = excluded.credited, withdrawn = excluded.withdrawn,
             payouts_sent = excluded.payouts_sent, payouts_received = excluded.payouts_received, payouts_on_chain = excluded.payouts_on_chain,
             escrow = excluded.escrow, updated_seq = excluded.updated_seq
           WHERE accounts.updated_seq < excluded.updated_seq`,
        )
        .bind(
          object,
          String(v.available),
          String(v.held),
          String(v.credited),
          String(v.withdrawn),
          String(v.payoutsSent),
          String(v.payoutsReceived),
          String(v.payoutsOnChain ?? '0'),
          v.escrow === true ? 1 : 0,
          seq,
        ),
    ];
  }
  if (source === 'settlement') {
    const paid = (v.paid ?? {}) as Row;
    return [
      db
        .prepare(
          `INSERT INTO settlements (buyer, pending, paid_gross, paid_fee, view, updated_seq) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (buyer) DO UPDATE SET pending = excluded.pending, paid_gross = excluded.paid_gross, paid_fee = excluded.paid_fee, view = excluded.view,
             updated_seq = excluded.updated_seq
           WHERE settlements.updated_seq < excluded.updated_seq`,
        )
        .bind(object, String(v.pending ?? '0'), String(paid.gross ?? '0'), String(paid.fee ?? '0'), view, seq),
    ];
  }
  if (source === 'withdrawal') {
    return [
      db
        .prepare(
          `INSERT INTO withdrawals (id, account, destination, amount, status, signature, view, requested_at, updated_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET status = excluded.status, signature = excluded.signature, view = excluded.view, updated_seq = excluded.updated_seq
           WHERE withdrawals.updated_seq < excluded.updated_seq`,
        )
        .bind(object, String(v.account), String(v.destination), String(v.amount), String(v.status), typeof v.signature === 'string' ? v.signature : null, view, Number(v.requestedAt ?? 0), seq),
    ];
  }
  if (source === 'job') {
    const market = ORDER_ID.exec(object)?.[2] ?? '';
    const replicas = (Array.isArray(v.replicas) ? v.replicas : []) as Row[];
    const timeline = (Array.isArray(v.timeline) ? v.timeline : []) as { at?: number }[];
    const providers = [...new Set(replicas.map((r) => r.provider).filter((p): p is string => typeof p === 'string'))];
    return [
      db
        .prepare(
          `INSERT INTO jobs (id, market, buyer, status, view, created_at, updated_at, updated_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET status = excluded.status, view = excluded.view, updated_at = excluded.updated_at, updated_seq = excluded.updated_seq
           WHERE jobs.updated_seq < excluded.updated_seq`,
        )
        .bind(object, market, String(v.buyer ?? ''), String(v.status ?? ''), view, Number(timeline[0]?.at ?? 0), Number(timeline[timeline.length - 1]?.at ?? 0), seq),
      ...providers.map((p) => db.prepare('INSERT OR IGNORE INTO job_providers (job_id, provider) VALUES (?, ?)').bind(object, p)),
    ];
  }
  return [];
}
