import type { Env, ProjectionMessage } from '../durable-objects/runtime/env.ts';
import { ORDER_ID } from '../durable-objects/contracts/api.ts';

type Row = Record<string, unknown>;

/** Zero-padded decimal so that text order is numeric order. */
export const amountKey = (v: unknown): string => String(v ?? '0').padStart(20, '0');

/**
 * Queue consumer: projects events and object views into D1. Each event applies once (its id is
 * recorded in the same D1 batch); views carry the object's sequence and only ever move forward.
 * After a message, the object's projection cursor moves to its last event if no earlier run is
 * missing: the object re-sends what the cursor does not cover (docs/architecture.md, "Read models").
 */
export async function project(batch: MessageBatch<ProjectionMessage>, env: Env): Promise<void> {
  for (const message of batch.messages) {
    try {
      await projectOne(env.DB, message.body);
      message.ack();
    } catch (error) {
      console.warn(`projection of ${describe(message.body)} failed: ${String(error)}`);
      message.retry({ delaySeconds: 1 });
    }
  }
}

function describe(m: ProjectionMessage): string {
  return `${m.source}:${m.object}:${m.first}..${m.last}${m.view === undefined ? '' : ' and view'}`;
}

export async function projectOne(db: D1Database, m: ProjectionMessage): Promise<void> {
  // Market events feed offers and trades, job events feed reputation; accounts and withdrawals come as views.
  if (m.source === 'market' || m.source === 'job') await projectEvents(db, m);
  if (m.view !== undefined) await projectView(db, m.source, m.object, m.last, m.view);
  await db
    .prepare(
      `INSERT INTO projection_cursors (object, seq, head) VALUES (?1, CASE WHEN ?2 <= 1 THEN ?3 ELSE 0 END, ?4)
       ON CONFLICT (object) DO UPDATE SET seq = CASE WHEN projection_cursors.seq >= ?2 - 1 AND projection_cursors.seq < ?3 THEN ?3 ELSE projection_cursors.seq END,
         head = MAX(projection_cursors.head, ?4)`,
    )
    .bind(`${m.source}:${m.object}`, m.first, m.last, m.head)
    .run();
}

async function projectEvents(db: D1Database, m: ProjectionMessage): Promise<void> {
  for (const e of m.events) {
    const eventId = `${m.source}:${m.object}:${e.seq}`;
    if (await db.prepare('SELECT 1 FROM applied_events WHERE event_id = ?').bind(eventId).first()) continue;
    const statements = [db.prepare('INSERT INTO applied_events (event_id) VALUES (?)').bind(eventId)];
    const event = { ...(JSON.parse(e.data) as Row), type: e.type };
    statements.push(...(m.source === 'market' ? marketStatements(db, m.object, e.seq, e.at, event) : jobStatements(db, m.object, event)));
    // A duplicate delivered concurrently fails on the applied_events key and rolls the batch back.
    await db.batch(statements);
  }
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

async function projectView(db: D1Database, source: ProjectionMessage['source'], object: string, seq: number, view: string): Promise<void> {
  const v = JSON.parse(view) as Row;
  if (source === 'account') {
    await db
      .prepare(
        `INSERT INTO accounts (id, available, held, credited, withdrawn, payouts_sent, payouts_received, updated_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET available = excluded.available, held = excluded.held, credited = excluded.credited, withdrawn = excluded.withdrawn,
           payouts_sent = excluded.payouts_sent, payouts_received = excluded.payouts_received, updated_seq = excluded.updated_seq
         WHERE accounts.updated_seq < excluded.updated_seq`,
      )
      .bind(object, String(v.available), String(v.held), String(v.credited), String(v.withdrawn), String(v.payoutsSent), String(v.payoutsReceived), seq)
      .run();
  } else if (source === 'withdrawal') {
    await db
      .prepare(
        `INSERT INTO withdrawals (id, account, destination, amount, status, signature, view, requested_at, updated_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, signature = excluded.signature, view = excluded.view, updated_seq = excluded.updated_seq
         WHERE withdrawals.updated_seq < excluded.updated_seq`,
      )
      .bind(object, String(v.account), String(v.destination), String(v.amount), String(v.status), typeof v.signature === 'string' ? v.signature : null, view, Number(v.requestedAt ?? 0), seq)
      .run();
  } else if (source === 'job') {
    const market = ORDER_ID.exec(object)?.[2] ?? '';
    const replicas = (Array.isArray(v.replicas) ? v.replicas : []) as Row[];
    const timeline = (Array.isArray(v.timeline) ? v.timeline : []) as { at?: number }[];
    const providers = [...new Set(replicas.map((r) => r.provider).filter((p): p is string => typeof p === 'string'))];
    await db.batch([
      db
        .prepare(
          `INSERT INTO jobs (id, market, buyer, status, view, created_at, updated_at, updated_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET status = excluded.status, view = excluded.view, updated_at = excluded.updated_at, updated_seq = excluded.updated_seq
           WHERE jobs.updated_seq < excluded.updated_seq`,
        )
        .bind(object, market, String(v.buyer ?? ''), String(v.status ?? ''), view, Number(timeline[0]?.at ?? 0), Number(timeline[timeline.length - 1]?.at ?? 0), seq),
      ...providers.map((p) => db.prepare('INSERT OR IGNORE INTO job_providers (job_id, provider) VALUES (?, ?)').bind(object, p)),
    ]);
  }
}
