import { env as rawEnv } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Decider } from '../../durable-objects/domain/decider.ts';
import type { Env } from '../../durable-objects/runtime/env.ts';
import { EventStore, SequenceConflict } from '../../durable-objects/runtime/event-store.ts';

const env = rawEnv as unknown as Env;

/**
 * A tiny counter aggregate whose event changed shape: version 1 stored `{ n }`, version 2 stores
 * `{ amount }` as a bigint. It exercises the store's generic paths with a real SQLite log.
 */
type Cmd = { type: 'Add'; amount: bigint };
type Evt = { type: 'Added'; amount: bigint };
const counter: Decider<Cmd, Evt, { total: bigint }> = {
  initialState: () => ({ total: 0n }),
  decide: (_s, c) => (c.amount > 0n ? { ok: true, value: [{ type: 'Added', amount: c.amount }] } : { ok: false, error: { code: 'TEST__NOT_POSITIVE', message: 'not positive', context: {} } }),
  evolve: (s, e) => ({ total: s.total + e.amount }),
  react: () => [],
  eventVersions: { Added: 2 },
  upcast: (type, version, data) => (type === 'Added' && version === 1 ? { amount: BigInt(data.n as number) } : data),
  bigintFields: new Set(['amount', 'total']),
  snapshot: (s) => s,
  restore: (d) => d as { total: bigint },
};
const meta = (commandId: string) => ({ commandId, actor: 'tester', now: Date.now() });
const open = (storage: DurableObjectStorage) => new EventStore(storage, counter, { snapshotEvery: 1000, source: () => 'test:counter' });

describe('the event store', () => {
  it('upcasts events stored under an older schema version when it reads them', async () => {
    const stub = env.ACCOUNTS.get(env.ACCOUNTS.idFromName('upcast-store'));
    const total = await runInDurableObject(stub, (_instance, state) => {
      open(state.storage); // creates the tables
      state.storage.sql.exec("INSERT INTO events (seq, type, version, data, command_id, actor, at) VALUES (1, 'Added', 1, '{\"n\":5}', 'old', 'tester', 0)");
      const store = open(state.storage);
      store.execute({ type: 'Add', amount: 7n }, meta('new'));
      const reopened = open(state.storage);
      return { total: reopened.state.total, first: reopened.read(0, 1)[0]!.event };
    });
    expect(total.total).toBe(12n);
    expect(total.first).toEqual({ type: 'Added', amount: 5n });
  });

  it('refuses an append at a sequence someone else took, rolls back, and keeps its state', async () => {
    const stub = env.ACCOUNTS.get(env.ACCOUNTS.idFromName('conflict-store'));
    const outcome = await runInDurableObject(stub, (_instance, state) => {
      const store = open(state.storage);
      store.execute({ type: 'Add', amount: 1n }, meta('a'));
      // Another writer appends behind this instance's back.
      state.storage.sql.exec("INSERT INTO events (seq, type, version, data, command_id, actor, at) VALUES (2, 'Added', 2, '{\"amount\":\"10\"}', 'x', 'other', 0)");
      let error: unknown = null;
      try {
        store.execute({ type: 'Add', amount: 100n }, meta('b'));
      } catch (e) {
        error = e;
      }
      const commandB = state.storage.sql.exec("SELECT (SELECT COUNT(*) FROM commands WHERE command_id = 'b') + (SELECT COUNT(*) FROM events WHERE command_id = 'b') AS n").one().n;
      return { conflict: error instanceof SequenceConflict, expected: (error as SequenceConflict).expected, total: store.state.total, seq: store.seq, commandB };
    });
    expect(outcome).toEqual({ conflict: true, expected: 1, total: 11n, seq: 2, commandB: 0 });
  });

  it('answers a rejected command with its rejection and records nothing', async () => {
    const stub = env.ACCOUNTS.get(env.ACCOUNTS.idFromName('reject-store'));
    const outcome = await runInDurableObject(stub, (_instance, state) => {
      const store = open(state.storage);
      const r = store.execute({ type: 'Add', amount: 0n }, meta('zero'));
      return { ok: r.ok, seq: store.seq, commands: state.storage.sql.exec('SELECT (SELECT COUNT(*) FROM commands) + (SELECT COUNT(*) FROM events) AS n').one().n };
    });
    expect(outcome).toEqual({ ok: false, seq: 0, commands: 0 });
  });

  it('answers a repeated command id with its first result, in the same batch and after a reload, and refuses it for another request', async () => {
    const stub = env.ACCOUNTS.get(env.ACCOUNTS.idFromName('repeat-store'));
    const outcome = await runInDurableObject(stub, (_instance, state) => {
      const store = open(state.storage);
      const batch = store.executeMany([{ type: 'Add', amount: 2n }, { type: 'Add', amount: 2n }, { type: 'Add', amount: 3n }], meta('m'), ['x', 'x', 'x']);
      const reloaded = open(state.storage);
      const again = reloaded.execute({ type: 'Add', amount: 2n }, meta('x'));
      return { batch, again, total: reloaded.state.total, seq: reloaded.seq };
    });
    const first = { ok: true, value: { events: [{ type: 'Added', amount: 2n }], seq: 1, repeated: false } };
    const repeat = { ok: true, value: { events: [{ type: 'Added', amount: 2n }], seq: 1, repeated: true } };
    expect(outcome.batch).toEqual([first, repeat, { ok: false, error: expect.objectContaining({ code: 'API__IDEMPOTENCY_CONFLICT' }) }]);
    expect(outcome.again).toEqual(repeat);
    expect(outcome).toMatchObject({ total: 2n, seq: 1 });
  });

  it('opens a log of the older layout (commands recorded in their own table) and still answers its commands as repeats', async () => {
    const stub = env.ACCOUNTS.get(env.ACCOUNTS.idFromName('old-layout-store'));
    const outcome = await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      sql.exec('DROP TABLE events');
      sql.exec('CREATE TABLE events (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL, command_id TEXT NOT NULL, actor TEXT NOT NULL, at INTEGER NOT NULL)');
      const fresh = open(state.storage);
      fresh.execute({ type: 'Add', amount: 4n }, meta('old'));
      // Move that command's record to where the older layout kept it.
      const row = sql.exec<{ request_hash: string }>("SELECT request_hash FROM events WHERE command_id = 'old'").one();
      sql.exec("UPDATE events SET request_hash = NULL, command_last_seq = NULL WHERE command_id = 'old'");
      sql.exec("INSERT INTO commands VALUES ('old', ?, 1, 1)", row.request_hash);
      const store = open(state.storage);
      return { repeat: store.execute({ type: 'Add', amount: 4n }, meta('old')), other: store.execute({ type: 'Add', amount: 5n }, meta('old')).ok, next: store.execute({ type: 'Add', amount: 1n }, meta('new')), total: store.state.total };
    });
    expect(outcome).toEqual({
      repeat: { ok: true, value: { events: [{ type: 'Added', amount: 4n }], seq: 1, repeated: true } },
      other: false,
      next: { ok: true, value: { events: [{ type: 'Added', amount: 1n }], seq: 2, repeated: false } },
      total: 5n,
    });
  });

  it('remembers a command that appended nothing as a repeat, and leaves no event whose state change fails', async () => {
    // Amount 0 is accepted with no event; evolve fails on 13 (a decider bug the log must not keep).
    const picky: Decider<Cmd, Evt, { total: bigint }> = {
      ...counter,
      decide: (_s, c) => ({ ok: true, value: c.amount === 0n ? [] : [{ type: 'Added', amount: c.amount }] }),
      evolve: (s, e) => {
        if (e.amount === 13n) throw new Error('unlucky');
        return { total: s.total + e.amount };
      },
    };
    const openPicky = (storage: DurableObjectStorage) => new EventStore(storage, picky, { snapshotEvery: 1000, source: () => 'test:picky' });
    const stub = env.ACCOUNTS.get(env.ACCOUNTS.idFromName('picky-store'));
    const outcome = await runInDurableObject(stub, (_instance, state) => {
      const store = openPicky(state.storage);
      const nothing = store.execute({ type: 'Add', amount: 0n }, meta('z'));
      store.execute({ type: 'Add', amount: 1n }, meta('a'));
      const sameId = store.execute({ type: 'Add', amount: 5n }, meta('z'));
      let failed = '';
      try {
        store.execute({ type: 'Add', amount: 13n }, meta('bad'));
      } catch (e) {
        failed = String(e);
      }
      const reopened = openPicky(state.storage);
      return {
        nothing,
        sameId: sameId.ok ? 'appended' : sameId.error.code,
        failed,
        rows: state.storage.sql.exec('SELECT COUNT(*) AS n FROM events').one().n,
        seq: store.seq,
        total: store.state.total,
        afterReload: { repeat: reopened.execute({ type: 'Add', amount: 0n }, meta('z')), sameId: reopened.execute({ type: 'Add', amount: 5n }, meta('z')).ok, total: reopened.state.total },
        next: reopened.execute({ type: 'Add', amount: 2n }, meta('bad')),
      };
    });
    expect(outcome).toEqual({
      nothing: { ok: true, value: { events: [], seq: 0, repeated: false } },
      sameId: 'API__IDEMPOTENCY_CONFLICT',
      failed: 'Error: unlucky',
      rows: 1,
      seq: 1,
      total: 1n,
      afterReload: { repeat: { ok: true, value: { events: [], seq: 1, repeated: true } }, sameId: false, total: 1n },
      next: { ok: true, value: { events: [{ type: 'Added', amount: 2n }], seq: 2, repeated: false } },
    });
  });
});
