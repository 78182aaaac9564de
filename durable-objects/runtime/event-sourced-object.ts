import { DurableObject } from 'cloudflare:workers';
import { toJson } from '../domain/canonical.ts';
import type { AggregateKind, CommandMeta, Decider } from '../domain/decider.ts';
import type { Result } from '../domain/result.ts';
import type { Env } from './env.ts';
import { EventStore, type Decision } from './event-store.ts';
import { accountObject, jobObject, marketObject, settlementObject, type Envelope } from './objects.ts';
import { ACK_CHECK_MS, ACK_TIMEOUT_MS, ackRecheckMs, packProjection, projectionBackoffMs, unappliedVerdict, type ProjectorProgress } from './projection.ts';
import { backoffMs } from '../domain/backoff.ts';

export type { Envelope } from './objects.ts';

const DELIVERY_BATCH = 64;
/** Events read per projection round; packProjection cuts them into messages within the queue's limits. */
const PROJECTION_BATCH = 1000;
/** Read models may lag this much so that a busy object sends its events in runs, not one by one. */
const PROJECTION_DELAY_MS = 25;
const MAX_BACKOFF_MS = 60_000;

/**
 * The chaos suite's delivery fault (`npm run test:chaos`; local mode only, never in a deployment):
 * every outbox message is delivered twice and every projection run is sent twice, the first copy
 * in reverse order, as an at-least-once queue may. Each duplicate is logged (`chaos-delivery:`),
 * so the suite counts the faults it injected.
 */
const chaosDelivery = (env: Env): boolean => env.CHAOS_DELIVERY === 'duplicate' && env.LOCAL_MODE === 'true';

/**
 * The shell shared by every aggregate object: it loads the event store, runs commands through the
 * decider, delivers the outbox and feeds the projector from one alarm. Subclasses add typed RPC
 * methods and name the timer command their decider needs (order expiry, lease lapses).
 */
export abstract class EventSourcedObject<C extends { type: string }, E extends { type: string }, S> extends DurableObject<Env> {
  protected readonly store: EventStore<C, E, S>;
  private alarmAt: number | null = null;
  /** Sent to the read models up to here (kv `projected`), and known applied up to here (kv `applied`). */
  private projectedSeq: number | null = null;
  private appliedSeq: number | null = null;
  /** When to ask D1 whether sent events were applied; failures in a row feeding the queue, and when to try again. */
  private appliedCheckAt: number | null = null;
  /** When the events up to the sent cursor were last sent (kv `projectedAt`; 0 when not recorded). */
  private sentAtMs: number | null = null;
  /** Checks in a row that found the sent events still queued (each waits longer). */
  private ackWaits = 0;
  private projectFailures = 0;
  /** Whether this instance has sent events to the read models (else what was sent, an earlier one sent). */
  private sentSinceStart = false;
  private projectRetryAt = 0;
  /** Outbox messages being delivered right now, so that the alarm and an eager flush do not both send one. */
  private readonly inFlight = new Set<string>();
  private flushing: Promise<void> | null = null;
  private flushAgain = false;
  private cachedName: string | null = null;
  /** Earliest due outbox message, kept in memory; undefined means "read it from storage". */
  private outboxNextAt: number | null | undefined = undefined;
  protected abstract readonly kind: AggregateKind;
  /** Whether this object's events feed the D1 read models (a process's own log does not). */
  protected readonly feedsReadModels: boolean = true;

  constructor(ctx: DurableObjectState, env: Env, protected readonly decider: Decider<C, E, S>, snapshotEvery = 1000) {
    super(ctx, env);
    this.store = new EventStore(ctx.storage, decider, { snapshotEvery, source: () => `${this.kind}:${this.name}` });
  }

  /** The object's name (market id, job id, account key), recorded on first use. */
  protected get name(): string {
    if (this.cachedName === null) this.cachedName = this.store.kvGet('name');
    return this.cachedName ?? this.ctx.id.name ?? this.ctx.id.toString();
  }

  protected remember(name: string): void {
    if (this.cachedName !== null) return;
    this.cachedName = this.store.kvGet('name');
    if (this.cachedName === null) {
      this.store.kvSet('name', name);
      this.cachedName = name;
    }
  }

  /** When the decider next needs a timer command, and which one. */
  protected abstract timer(state: S): { at: number; command: C } | null;

  /** Where a message addressed by the decider really goes (a shell may fill in ids the decider leaves empty). */
  protected resolveTarget(_kind: string, id: string): string {
    return id;
  }

  /** When the shell's own housekeeping (payload deletion) next needs the alarm; null when never. */
  protected sweepAt(): number | null {
    return null;
  }

  /** The shell's housekeeping, run by the alarm once sweepAt() has passed. */
  protected async sweep(_now: number): Promise<void> {}

  /** Called with the events just committed, for side effects outside the log (sockets). */
  protected afterCommit(_events: E[]): void {}

  /** The object's current view for the read models, if it has one. */
  protected projectionView(_state: S): unknown {
    return undefined;
  }

  /** Runs commands in one transaction and schedules delivery of what they caused. */
  protected run(name: string, commands: C[], meta: CommandMeta, commandIds?: string[]): Result<Decision<E>>[] {
    this.remember(name);
    const before = this.store.outboxSize;
    const results = this.store.executeMany(commands, meta, commandIds);
    if (this.store.outboxSize !== before) this.outboxNextAt = Math.min(this.outboxNextAt ?? Date.now(), Date.now());
    const fresh = results.flatMap((r) => (r.ok && !r.value.repeated ? r.value.events : []));
    if (fresh.length > 0) {
      this.schedule(Date.now());
      this.afterCommit(fresh);
    }
    return results;
  }

  protected runOne(name: string, command: C, meta: CommandMeta): Result<Decision<E>> {
    return this.run(name, [command], meta)[0]!;
  }

  /** Applies a message from another object's outbox exactly once (deduplicated by message id). */
  async receive(envelope: Envelope): Promise<Result<Decision<E>>> {
    const command = EventStore.decodeBody<C>(envelope.body, this.decider.bigintFields);
    return this.runOne(envelope.to, command, { commandId: envelope.id, actor: `system:${envelope.from}`, now: Date.now() });
  }

  /** The event log, oldest first, for history endpoints. */
  async history(after: number, limit: number): Promise<{ seq: number; type: string; at: number; actor: string; data: string }[]> {
    return this.store.read(after, limit).map((s) => ({ seq: s.seq, type: s.event.type, at: s.meta.now, actor: s.meta.actor, data: toJson(s.event) }));
  }

  /** Sequence, state hash, snapshot and replay-from-zero hash: the log's self-check. */
  async integrity(): Promise<{ seq: number; hash: string; snapshot: { seq: number; hash: string } | null; replay: { seq: number; hash: string } }> {
    return { seq: this.store.seq, hash: this.store.stateHash(), snapshot: this.store.latestSnapshot(), replay: this.store.replayHashFromZero() };
  }

  /** Messages this object's receivers refused (kept, never retried). */
  async deadLetters(): Promise<{ id: string; body: string; error: string }[]> {
    return this.store.deadLetters();
  }

  /** Fires timers, delivers the outbox, feeds the projector, then re-arms itself. */
  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const now = Date.now();
    const due = this.timer(this.store.state);
    if (due && due.at <= now) this.runOne(this.name, due.command, { commandId: `timer:${due.command.type}:${this.store.seq}`, actor: 'system:timer', now });
    const sweep = this.sweepAt();
    await Promise.all([this.flush(), this.project(), sweep !== null && sweep <= now ? this.sweep(now) : undefined]);
    // Re-arm from what storage says now. An alarm set while this handler ran is not relied upon:
    // the handler's completion may consume it.
    this.outboxNextAt = undefined;
    this.alarmAt = null;
    this.schedule(Date.now());
  }

  /**
   * Delivers the outbox now rather than at the next alarm. One flush runs at a time; a request made
   * while it runs makes it go round again, so a burst of commits costs one delivery loop.
   */
  protected flush(): Promise<void> {
    if (this.flushing) {
      this.flushAgain = true;
      return this.flushing;
    }
    this.flushing = (async () => {
      do {
        this.flushAgain = false;
        await this.deliver(Date.now());
      } while (this.flushAgain);
    })().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /** Delivers due outbox messages (receivers dedupe, so a message sent twice costs only a call). */
  private async deliver(now: number): Promise<void> {
    const messages = this.store.dueMessages(now, DELIVERY_BATCH).filter((m) => !this.inFlight.has(m.id));
    for (const m of messages) this.inFlight.add(m.id);
    await Promise.all(
      messages.map(async (m) => {
        try {
          const to = this.resolveTarget(m.targetKind, m.targetId);
          const envelope = { id: m.id, from: `${this.kind}:${this.name}`, to, body: m.body };
          const target = this.stubFor(m.targetKind as AggregateKind, to);
          if (chaosDelivery(this.env)) {
            // The chaos suite's "delivered twice": a copy goes first and its answer is dropped.
            console.log(`chaos-delivery: outbox ${m.id} delivered twice`);
            await target.receive(envelope);
          }
          const result = await target.receive(envelope);
          if (result.ok) this.store.messageDelivered(m.id);
          else {
            console.error(`outbox ${m.id} refused by ${m.targetKind}:${m.targetId}: ${result.error.code} ${result.error.message}`);
            this.store.messageDead(m.id, m.body, result.error, Date.now());
          }
        } catch (error) {
          const attempts = m.attempts + 1;
          this.store.messageFailed(m.id, attempts, Date.now() + backoffMs(attempts, { minMs: 200, maxMs: MAX_BACKOFF_MS }));
          console.warn(`outbox ${m.id} to ${m.targetKind}:${m.targetId} failed (attempt ${attempts}): ${String(error)}`);
        } finally {
          this.inFlight.delete(m.id);
        }
      }),
    );
  }

  /**
   * Feeds the read models (docs/architecture.md, "Read models"): sends the events past the sent
   * cursor in runs within the queue's limits, with backoff when the queue refuses; and once sent
   * events stay unapplied when checked (ACK_CHECK_MS on) and are lost rather than queued (a message
   * lost, the local queue restarted), rewinds the sent cursor to the projector's own and sends them
   * again. The projector applies each event once, so a run sent twice costs only its delivery.
   */
  private async project(): Promise<void> {
    if (!this.feedsReadModels) return;
    await this.checkApplied(Date.now());
    if (Date.now() < this.projectRetryAt) return;
    let cursor = this.projected();
    // Up to the head as it stands now: events committed while a batch is being sent wait for the
    // next alarm (PROJECTION_DELAY_MS on), so that a busy object's feed goes in runs rather than
    // chasing its head a few events at a time.
    const head = this.store.seq;
    const sentAt = Date.now();
    while (cursor < head) {
      const events = this.store.readForProjection(cursor, PROJECTION_BATCH);
      if (events.length === 0) return;
      const last = events[events.length - 1]!.seq;
      const view = last === this.store.seq ? this.projectionView(this.store.state) : undefined;
      const batches = packProjection({ source: this.kind, object: this.name, head: this.store.seq, events, view: view === undefined ? undefined : toJson(view) });
      for (const batch of batches) {
        try {
          const messages = batch.map((body) => ({ body, contentType: 'json' as const }));
          if (chaosDelivery(this.env)) {
            // The chaos suite's "twice and out of order": the run reversed, then again in order.
            console.log(`chaos-delivery: projection run of ${messages.length} sent twice, reversed first`);
            await this.env.PROJECTIONS.sendBatch([...messages].reverse());
          }
          await this.env.PROJECTIONS.sendBatch(messages);
        } catch (error) {
          this.projectFailures++;
          const wait = projectionBackoffMs(this.projectFailures);
          this.projectRetryAt = Date.now() + wait;
          console.warn(`projection feed of ${this.kind}:${this.name} failed at ${cursor} (attempt ${this.projectFailures}), next try in ${wait} ms: ${String(error)}`);
          return;
        }
        cursor = batch[batch.length - 1]!.last;
        this.store.kvSet('projected', String(cursor));
        this.store.kvSet('projectedAt', String(sentAt));
        this.projectedSeq = cursor;
        this.sentAtMs = sentAt;
        this.sentSinceStart = true;
      }
      this.projectFailures = 0;
      this.appliedCheckAt ??= Date.now() + ACK_CHECK_MS;
    }
  }

  /**
   * Asks D1 how far the projector applied this object's log once the check is due, and where the
   * projector is in the queue; rewinds the sent cursor to it when what was sent is lost rather than
   * queued (projection.ts, unappliedVerdict), and asks again later otherwise.
   */
  private async checkApplied(now: number): Promise<void> {
    const sent = this.projected();
    if (this.applied() >= sent) {
      this.appliedCheckAt = null;
      return;
    }
    this.appliedCheckAt ??= this.firstCheckAt(now);
    if (now < this.appliedCheckAt) return;
    let applied: number;
    let progress: ProjectorProgress | null;
    try {
      const row = await this.env.DB.prepare(
        'SELECT (SELECT seq FROM projection_cursors WHERE object = ?) AS seq, p.sent_until AS sentUntil, p.ran_at AS ranAt FROM (SELECT 1) LEFT JOIN projector_progress p ON p.id = 1',
      )
        .bind(`${this.kind}:${this.name}`)
        .first<{ seq: number | null; sentUntil: number | null; ranAt: number | null }>();
      applied = row?.seq ?? 0;
      progress = row?.sentUntil == null || row.ranAt == null ? null : { sentUntil: row.sentUntil, ranAt: row.ranAt };
    } catch (error) {
      this.appliedCheckAt = Date.now() + ACK_TIMEOUT_MS;
      console.warn(`reading the projection cursor of ${this.kind}:${this.name} failed: ${String(error)}`);
      return;
    }
    this.appliedSeq = applied;
    this.store.kvSet('applied', String(applied));
    this.appliedCheckAt = null;
    if (applied >= sent) {
      this.ackWaits = 0;
      return;
    }
    // Not logged: a rewind is the normal recovery from a lost message; the audit reports the lag.
    if (unappliedVerdict({ sentAt: this.sentAt(), progress, now }) === 'rewind') {
      this.ackWaits = 0;
      this.projectedSeq = applied;
      this.store.kvSet('projected', String(applied));
    } else {
      this.ackWaits++;
      this.appliedCheckAt = now + ackRecheckMs(this.ackWaits);
    }
  }

  private sentAt(): number {
    if (this.sentAtMs === null) this.sentAtMs = Number(this.store.kvGet('projectedAt') ?? '0');
    return this.sentAtMs;
  }

  /**
   * When to first ask D1 about events sent but not known applied: ACK_CHECK_MS after this
   * instance sent them; at once when an earlier instance did (nothing says when, and waiting a
   * timeout from each new instance never comes due for an object evicted sooner than that: seen
   * as a read model stuck behind after a restart, each alarm finding a new instance).
   */
  private firstCheckAt(now: number): number {
    return this.sentSinceStart ? now + ACK_CHECK_MS : now;
  }

  private applied(): number {
    if (this.appliedSeq === null) this.appliedSeq = Number(this.store.kvGet('applied') ?? '0');
    return this.appliedSeq;
  }

  private projected(): number {
    if (this.projectedSeq === null) this.projectedSeq = Number(this.store.kvGet('projected') ?? '0');
    return this.projectedSeq;
  }

  /** Arms the alarm for the earliest of: a due timer, a due message, an unprojected event. */
  protected schedule(now: number): void {
    const candidates: number[] = [];
    const t = this.timer(this.store.state);
    if (t) candidates.push(t.at);
    if (this.outboxNextAt === undefined) this.outboxNextAt = this.store.nextMessageAt();
    if (this.outboxNextAt !== null) candidates.push(this.outboxNextAt);
    if (this.feedsReadModels && this.projected() < this.store.seq) candidates.push(Math.max(now + PROJECTION_DELAY_MS, this.projectRetryAt));
    if (this.feedsReadModels && this.applied() < this.projected()) candidates.push(this.appliedCheckAt ?? this.firstCheckAt(now));
    const sweep = this.sweepAt();
    if (sweep !== null) candidates.push(sweep);
    if (candidates.length === 0) return;
    const at = Math.max(now, Math.min(...candidates));
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }

  /** The receiver of an outbox message: only markets, jobs, accounts and settlements receive messages. */
  private stubFor(kind: AggregateKind, id: string): { receive(e: Envelope): Promise<Result<unknown>> } {
    if (kind === 'market') return marketObject(this.env, id);
    if (kind === 'job') return jobObject(this.env, id);
    if (kind === 'account') return accountObject(this.env, id);
    if (kind === 'settlement') return settlementObject(this.env, id);
    throw new Error(`${kind} objects receive no messages`);
  }
}
