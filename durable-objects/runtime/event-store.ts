import { createHash } from 'node:crypto';
import { fromJson, toJson } from '../domain/canonical.ts';
import type { CommandMeta, Decider, Message } from '../domain/decider.ts';
import { domainError } from '../domain/errors.ts';
import type { DomainError, Result } from '../domain/result.ts';

/** A stored event as read back from the log. */
export interface StoredEvent<E> {
  seq: number;
  event: E;
  meta: CommandMeta;
}

/** What a command produced: the events appended and the sequence after them. */
export interface Decision<E> {
  events: E[];
  seq: number;
  /** True when this command id had already been executed: the first result is returned. */
  repeated: boolean;
}

export interface EventStoreOptions {
  /** Take a snapshot after this many events since the last one. */
  snapshotEvery: number;
  /** Outgoing messages get ids prefixed with this (kind:name), unique across objects. */
  source: () => string;
}

const SNAPSHOT_CHUNK = 1_000_000;
/**
 * Up to this many `commands` rows have their ids held in memory, so that a new command costs no
 * lookup there; a larger table (an older-layout log) is consulted row by row instead.
 */
const COMMAND_LOG_IN_MEMORY = 10_000;

/**
 * The event log of one Durable Object in its SQLite storage: append-only events with an expected
 * sequence, command results for idempotency, snapshots with a state hash, and the outbox. All writes
 * of one command commit together (one transaction, or one statement when they are a single row);
 * state is rebuilt from the latest snapshot plus the tail.
 */
export class EventStore<C extends { type: string }, E extends { type: string }, S> {
  state: S;
  seq = 0;
  /** Messages written to the outbox by this instance (a cheap signal that there is something to deliver). */
  outboxSize = 0;
  private snapshotSeq = 0;
  /**
   * The ids in `commands` (commands that appended nothing, and those of an older-layout log), or
   * null when there are more than COMMAND_LOG_IN_MEMORY of them and the table must be asked.
   */
  private commandLog: Set<string> | null = new Set();
  private readonly sql: SqlStorage;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly decider: Decider<C, E, S>,
    private readonly options: EventStoreOptions,
  ) {
    this.sql = storage.sql;
    // A new object (most are: one per job and per placement) creates its tables in their current
    // shape in one call; an existing log is brought up to it. Asking first spares a new object two
    // ALTERs that can only fail, which were a noticeable share of creating an object under load.
    const fresh = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'events'").one().n === 0;
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, version INTEGER NOT NULL,
        data TEXT NOT NULL, command_id TEXT NOT NULL, actor TEXT NOT NULL, at INTEGER NOT NULL, request_hash TEXT, command_last_seq INTEGER);
      CREATE TABLE IF NOT EXISTS commands (command_id TEXT PRIMARY KEY, request_hash TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS snapshots (seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, chunks INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS snapshot_chunks (seq INTEGER NOT NULL, idx INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (seq, idx));
      CREATE TABLE IF NOT EXISTS outbox (id TEXT PRIMARY KEY, target_kind TEXT NOT NULL, target_id TEXT NOT NULL,
        body TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS dead_letters (id TEXT PRIMARY KEY, body TEXT NOT NULL, error TEXT NOT NULL, at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `);
    if (!fresh) {
      // Logs created before the command record moved onto the event row gain its two columns; their
      // older commands stay in `commands`, which is then consulted too (no local state needs wiping).
      for (const column of ['request_hash TEXT', 'command_last_seq INTEGER']) {
        try {
          this.sql.exec(`ALTER TABLE events ADD COLUMN ${column}`);
        } catch (error) {
          if (!String(error).includes('duplicate column')) throw error;
        }
      }
    }
    // The outbox is read oldest-due first on every delivery; under load a market's outbox holds hundreds of rows.
    this.sql.exec(`
      CREATE UNIQUE INDEX IF NOT EXISTS events_by_command ON events (command_id) WHERE request_hash IS NOT NULL;
      CREATE INDEX IF NOT EXISTS outbox_by_due ON outbox (next_at, id);
    `);
    this.state = decider.initialState();
    // A new object has nothing to load (no commands, snapshot or events): four reads spared.
    if (!fresh) this.load();
  }

  /** Reads the `commands` ids into memory when there are few enough. */
  private loadCommandLog(): void {
    const n = this.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM commands').one().n;
    this.commandLog = n > COMMAND_LOG_IN_MEMORY ? null : new Set(this.sql.exec<{ id: string }>('SELECT command_id AS id FROM commands').toArray().map((r) => r.id));
  }

  /** Whether a command id may be recorded in `commands` (where the events' unique index does not look). */
  private mayBeInCommandLog(commandId: string): boolean {
    return this.commandLog === null || this.commandLog.has(commandId);
  }

  /** Rebuilds state from storage, from scratch. */
  private reload(): void {
    this.seq = 0;
    this.state = this.decider.initialState();
    this.snapshotSeq = 0;
    this.load();
  }

  /** Rebuilds state from the latest snapshot and the events after it. */
  private load(): void {
    this.loadCommandLog();
    const snap = this.sql.exec<{ seq: number; chunks: number }>('SELECT seq, chunks FROM snapshots ORDER BY seq DESC LIMIT 1').toArray()[0];
    if (snap) {
      const parts = this.sql.exec<{ data: string }>('SELECT data FROM snapshot_chunks WHERE seq = ? ORDER BY idx', snap.seq).toArray();
      this.state = this.decider.restore(fromJson(parts.map((p) => p.data).join(''), this.decider.bigintFields));
      this.seq = this.snapshotSeq = snap.seq;
    }
    for (const stored of this.read(this.seq, Number.MAX_SAFE_INTEGER)) {
      this.state = this.decider.evolve(this.state, stored.event, stored.meta);
      this.seq = stored.seq;
    }
  }

  /** Events with sequence in (after, after + limit], upcast to the current schema. */
  read(after: number, limit: number): StoredEvent<E>[] {
    const rows = this.sql.exec<{ seq: number; type: string; version: number; data: string; command_id: string; actor: string; at: number }>(
      'SELECT seq, type, version, data, command_id, actor, at FROM events WHERE seq > ? ORDER BY seq LIMIT ?',
      after,
      limit,
    );
    const out: StoredEvent<E>[] = [];
    for (const row of rows) {
      let data = fromJson<Record<string, unknown>>(row.data, this.decider.bigintFields);
      const current = this.decider.eventVersions[row.type as E['type']];
      if (current !== undefined && row.version < current) data = this.decider.upcast(row.type, row.version, data);
      out.push({ seq: row.seq, event: { ...data, type: row.type } as unknown as E, meta: { commandId: row.command_id, actor: row.actor, now: row.at } });
    }
    return out;
  }

  /**
   * Events as stored, for the projector: the data text is passed on untouched when the event is at
   * its current version (no parse, no re-serialise), and upcast first otherwise.
   */
  readForProjection(after: number, limit: number): { seq: number; type: string; at: number; actor: string; data: string }[] {
    const rows = this.sql.exec<{ seq: number; type: string; version: number; data: string; actor: string; at: number }>(
      'SELECT seq, type, version, data, actor, at FROM events WHERE seq > ? ORDER BY seq LIMIT ?',
      after,
      limit,
    );
    const out: { seq: number; type: string; at: number; actor: string; data: string }[] = [];
    for (const row of rows) {
      const current = this.decider.eventVersions[row.type as E['type']];
      const data =
        current !== undefined && row.version < current
          ? toJson(this.decider.upcast(row.type, row.version, fromJson<Record<string, unknown>>(row.data, this.decider.bigintFields)))
          : row.data;
      out.push({ seq: row.seq, type: row.type, at: row.at, actor: row.actor, data });
    }
    return out;
  }

  /**
   * Decides one command and appends its events, command record and outbox messages in one
   * transaction. A command id seen before returns its first result with no new events; the same id
   * with a different request is refused.
   */
  execute(command: C, meta: CommandMeta): Result<Decision<E>> {
    const r = this.executeMany([command], meta);
    if (!r[0]) throw new Error('executeMany returned nothing');
    return r[0];
  }

  /**
   * Decides several commands in order and commits them in one transaction: the batch path for
   * intake (a single command that writes one row needs no transaction: see appendAlone). Each command gets its own result; a rejected command appends nothing and the rest go on.
   * The command id of the i-th command is `${meta.commandId}` for a single command and
   * `${meta.commandId}#${i}` in a batch unless the command carries its own `commandId`.
   */
  executeMany(commands: C[], meta: CommandMeta, commandIds?: string[]): Result<Decision<E>>[] {
    // decide is pure, so it runs before the log is consulted: a new command (the common case) then
    // costs one insert per event, the first carrying the command's request hash and last sequence;
    // the unique index on its command id refuses a repeat.
    let first: { hash: string; decided: Result<E[]> } | undefined;
    if (commands.length === 1) {
      const commandId = commandIds?.[0] ?? meta.commandId;
      const m: CommandMeta = { ...meta, commandId };
      first = { hash: requestHash(commands[0]!), decided: this.decider.decide(this.state, commands[0]!, m) };
      const alone = this.appendAlone(first.decided, m, first.hash);
      if (alone !== null) return [alone];
    }
    const results: Result<Decision<E>>[] = [];
    const messages: Message[] = [];
    try {
      this.storage.transactionSync(() => {
        for (let i = 0; i < commands.length; i++) {
          const command = commands[i]!;
          const commandId = commandIds?.[i] ?? (commands.length === 1 ? meta.commandId : `${meta.commandId}#${i}`);
          const m: CommandMeta = { ...meta, commandId };
          const hash = i === 0 && first ? first.hash : requestHash(command);
          const decided = i === 0 && first ? first.decided : this.decider.decide(this.state, command, m);
          const events = decided.ok ? decided.value : null;
          if (events === null || events.length === 0 || this.mayBeInCommandLog(commandId)) {
            const repeat = this.repeatOf(commandId, hash);
            if (repeat !== null || events === null) {
              results.push(repeat ?? (decided as Result<Decision<E>>));
              continue;
            }
            if (events.length === 0) {
              this.sql.exec('INSERT INTO commands (command_id, request_hash, first_seq, last_seq) VALUES (?, ?, ?, ?)', commandId, hash, this.seq + 1, this.seq);
              this.commandLog?.add(commandId);
              if (this.commandLog !== null && this.commandLog.size > COMMAND_LOG_IN_MEMORY) this.commandLog = null;
              results.push({ ok: true, value: { events, seq: this.seq, repeated: false } });
              continue;
            }
          }
          if (!this.insertEvent(this.seq + 1, events[0]!, m, hash, this.seq + events.length)) {
            const repeat = this.repeatOf(commandId, hash);
            if (repeat === null) throw this.conflictAt(this.seq + 1) ?? new Error(`event ${this.seq + 1} of ${commandId} was not written`);
            results.push(repeat);
            continue;
          }
          for (let j = 0; j < events.length; j++) {
            const event = events[j]!;
            this.seq++;
            if (j > 0) this.insertEvent(this.seq, event, m, null, null);
            let index = 0;
            for (const message of this.decider.react(this.state, event, m)) {
              messages.push({ ...message, id: `${this.options.source()}:${this.seq}:${index++}` });
            }
            this.state = this.decider.evolve(this.state, event, m);
          }
          results.push({ ok: true, value: { events: events!, seq: this.seq, repeated: false } });
        }
        this.outboxSize += messages.length;
        for (const message of messages) {
          this.sql.exec(
            'INSERT INTO outbox (id, target_kind, target_id, body, next_at) VALUES (?, ?, ?, ?, ?)',
            message.id,
            message.to.kind,
            message.to.id,
            toJson(message.command),
            Date.now(), // due now in wall-clock time, whatever time the command carried
          );
        }
        if (this.seq - this.snapshotSeq >= this.options.snapshotEvery) this.writeSnapshot();
      });
    } catch (error) {
      // The transaction rolled back: the in-memory state may have been evolved, so rebuild it.
      this.reload();
      throw error;
    }
    return results;
  }

  /**
   * The common single command, outside a transaction: one event that sends no message and is not
   * due a snapshot is a single row (its command record on it), so the one INSERT is atomic by
   * itself, and the transaction's savepoint is saved. Null when the command needs the general path
   * (rejected, no event or several, messages, a snapshot due, or its id possibly in `commands`).
   */
  private appendAlone(decided: Result<E[]>, m: CommandMeta, hash: string): Result<Decision<E>> | null {
    if (!decided.ok || decided.value.length !== 1 || this.mayBeInCommandLog(m.commandId)) return null;
    if (this.seq + 1 - this.snapshotSeq >= this.options.snapshotEvery) return null;
    const event = decided.value[0]!;
    if (this.decider.react(this.state, event, m).length > 0) return null;
    if (!this.insertEvent(this.seq + 1, event, m, hash, this.seq + 1)) {
      const repeat = this.repeatOf(m.commandId, hash);
      if (repeat !== null) return repeat;
      // Someone else appended: nothing was written here; the state follows the log, as after a rollback.
      const error = this.conflictAt(this.seq + 1) ?? new Error(`event ${this.seq + 1} of ${m.commandId} was not written`);
      this.reload();
      throw error;
    }
    this.seq++;
    try {
      this.state = this.decider.evolve(this.state, event, m);
    } catch (error) {
      // The row is taken back in the same (implicit) transaction, so the log never holds an event
      // its state cannot apply, as a rolled-back transaction would leave it.
      this.sql.exec('DELETE FROM events WHERE seq = ?', this.seq);
      this.reload();
      throw error;
    }
    return { ok: true, value: { events: decided.value, seq: this.seq, repeated: false } };
  }

  /** The first result of a command id seen before, a conflict if the request differs, or null if unseen. */
  private repeatOf(commandId: string, hash: string): Result<Decision<E>> | null {
    const seen =
      this.sql
        .exec<{ request_hash: string; first_seq: number; last_seq: number }>(
          'SELECT request_hash, seq AS first_seq, command_last_seq AS last_seq FROM events WHERE command_id = ? AND request_hash IS NOT NULL',
          commandId,
        )
        .toArray()[0] ??
      (this.mayBeInCommandLog(commandId)
        ? this.sql
            .exec<{ request_hash: string; first_seq: number; last_seq: number }>('SELECT request_hash, first_seq, last_seq FROM commands WHERE command_id = ?', commandId)
            .toArray()[0]
        : undefined);
    if (!seen) return null;
    if (seen.request_hash !== hash) return { ok: false, error: domainError('API__IDEMPOTENCY_CONFLICT', { id: commandId }) };
    const events = seen.last_seq >= seen.first_seq ? this.read(seen.first_seq - 1, seen.last_seq - seen.first_seq + 1).map((s) => s.event) : [];
    return { ok: true, value: { events, seq: this.seq, repeated: true } };
  }

  /**
   * Appends one event. The first event of a command carries its request hash and last sequence and
   * is written only if neither its sequence nor its command id is taken (false otherwise); any other
   * event throws SequenceConflict when its sequence is taken.
   */
  private insertEvent(seq: number, event: E, meta: CommandMeta, hash: string | null, lastSeq: number | null): boolean {
    const { type, ...data } = event as unknown as { type: string } & Record<string, unknown>;
    const version = this.decider.eventVersions[type as E['type']] ?? 1;
    if (hash !== null) {
      const sql = 'INSERT INTO events (seq, type, version, data, command_id, actor, at, request_hash, command_last_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING';
      return this.sql.exec(sql, seq, type, version, toJson(data), meta.commandId, meta.actor, meta.now, hash, lastSeq).rowsWritten > 0;
    }
    try {
      this.sql.exec('INSERT INTO events (seq, type, version, data, command_id, actor, at) VALUES (?, ?, ?, ?, ?, ?, ?)', seq, type, version, toJson(data), meta.commandId, meta.actor, meta.now);
    } catch (error) {
      const conflict = this.conflictAt(seq);
      if (conflict !== null) throw conflict;
      throw error;
    }
    return true;
  }

  /** A SequenceConflict when the log is not at seq - 1 (someone else appended), else null. */
  private conflictAt(seq: number): SequenceConflict | null {
    const actual = this.sql.exec<{ seq: number }>('SELECT COALESCE(MAX(seq), 0) AS seq FROM events').one().seq;
    return actual !== seq - 1 ? new SequenceConflict(seq - 1, actual) : null;
  }

  /** Writes a snapshot of the current state (chunked under the 2 MB row limit) with its hash. */
  writeSnapshot(): void {
    const text = toJson(this.decider.snapshot(this.state));
    const hash = sha256(text);
    const chunks = Math.max(1, Math.ceil(text.length / SNAPSHOT_CHUNK));
    for (let i = 0; i < chunks; i++) {
      this.sql.exec('INSERT OR REPLACE INTO snapshot_chunks (seq, idx, data) VALUES (?, ?, ?)', this.seq, i, text.slice(i * SNAPSHOT_CHUNK, (i + 1) * SNAPSHOT_CHUNK));
    }
    this.sql.exec('INSERT OR REPLACE INTO snapshots (seq, hash, chunks) VALUES (?, ?, ?)', this.seq, hash, chunks);
    // Older snapshots are not needed to load; keep only the latest two.
    this.sql.exec('DELETE FROM snapshot_chunks WHERE seq < (SELECT MIN(seq) FROM (SELECT seq FROM snapshots ORDER BY seq DESC LIMIT 2))');
    this.sql.exec('DELETE FROM snapshots WHERE seq < (SELECT MIN(seq) FROM (SELECT seq FROM snapshots ORDER BY seq DESC LIMIT 2))');
    this.snapshotSeq = this.seq;
  }

  /**
   * SHA-256 of the snapshot of the current state, as stored. Deciders build snapshots in a fixed
   * shape and order, so equal states give equal text.
   */
  stateHash(): string {
    return sha256(toJson(this.decider.snapshot(this.state)));
  }

  /** State hash obtained by replaying every event from zero, ignoring snapshots (for checks). */
  replayHashFromZero(): { seq: number; hash: string } {
    let state = this.decider.initialState();
    let seq = 0;
    for (;;) {
      const batch = this.read(seq, 10_000);
      if (batch.length === 0) break;
      for (const s of batch) state = this.decider.evolve(state, s.event, s.meta);
      seq = batch[batch.length - 1]!.seq;
    }
    return { seq, hash: sha256(toJson(this.decider.snapshot(state))) };
  }

  /** Latest snapshot's sequence and hash, if any. */
  latestSnapshot(): { seq: number; hash: string } | null {
    return this.sql.exec<{ seq: number; hash: string }>('SELECT seq, hash FROM snapshots ORDER BY seq DESC LIMIT 1').toArray()[0] ?? null;
  }

  kvGet(key: string): string | null {
    return this.sql.exec<{ value: string }>('SELECT value FROM kv WHERE key = ?', key).toArray()[0]?.value ?? null;
  }

  kvSet(key: string, value: string): void {
    this.sql.exec('INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)', key, value);
  }

  /** Outbox rows due at `now`, oldest first. */
  dueMessages(now: number, limit: number): { id: string; targetKind: string; targetId: string; body: string; attempts: number }[] {
    return this.sql
      .exec<{ id: string; target_kind: string; target_id: string; body: string; attempts: number }>(
        'SELECT id, target_kind, target_id, body, attempts FROM outbox WHERE next_at <= ? ORDER BY next_at, id LIMIT ?',
        now,
        limit,
      )
      .toArray()
      .map((r) => ({ id: r.id, targetKind: r.target_kind, targetId: r.target_id, body: r.body, attempts: r.attempts }));
  }

  /** Earliest time an outbox message is due, or null when the outbox is empty. */
  nextMessageAt(): number | null {
    return this.sql.exec<{ at: number | null }>('SELECT MIN(next_at) AS at FROM outbox').one().at;
  }

  messageDelivered(id: string): void {
    this.sql.exec('DELETE FROM outbox WHERE id = ?', id);
  }

  messageFailed(id: string, attempts: number, nextAt: number): void {
    this.sql.exec('UPDATE outbox SET attempts = ?, next_at = ? WHERE id = ?', attempts, nextAt, id);
  }

  /** A message its receiver refused: kept for inspection, never retried. */
  messageDead(id: string, body: string, error: DomainError | string, at: number): void {
    this.storage.transactionSync(() => {
      this.sql.exec('INSERT OR REPLACE INTO dead_letters (id, body, error, at) VALUES (?, ?, ?, ?)', id, body, typeof error === 'string' ? error : toJson(error), at);
      this.sql.exec('DELETE FROM outbox WHERE id = ?', id);
    });
  }

  deadLetters(): { id: string; body: string; error: string }[] {
    return this.sql.exec<{ id: string; body: string; error: string }>('SELECT id, body, error FROM dead_letters ORDER BY at').toArray();
  }

  /** Decodes an outbox body into a command using this decider's bigint fields. */
  static decodeBody<T>(body: string, bigintFields: ReadonlySet<string>): T {
    return fromJson<T>(body, bigintFields);
  }
}

/** Thrown when the log is not at the sequence the writer expected; the transaction rolls back. */
export class SequenceConflict extends Error {
  constructor(
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`EVENT_LOG__SEQUENCE_CONFLICT: expected ${expected}, log at ${actual}`);
  }
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * Tells a repeat from a different request under the same command id: two 32-bit FNV-style lanes
 * and the length. Not cryptographic, and need not be: command ids are scoped to their author
 * (order ids hash the owner), so a collision could only confuse a caller with itself. It runs on
 * every command; SHA-256 through node:crypto cost about 10 µs a call in workerd, this about 1.
 */
export function requestHash(command: unknown): string {
  const text = toJson(command);
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
  }
  return `${(h1 >>> 0).toString(36)}.${(h2 >>> 0).toString(36)}.${text.length}`;
}
