import { env as rawEnv } from 'cloudflare:workers';
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it, vi } from 'vitest';
import type { AuditReport } from '../../durable-objects/contracts/api.ts';
import type { AccountObject } from '../../durable-objects/runtime/account-object.ts';
import type { Env } from '../../durable-objects/runtime/env.ts';
import { accountObject } from '../../durable-objects/runtime/objects.ts';
import type { ProjectionMessage } from '../../durable-objects/runtime/env.ts';
import { project } from '../../workers/projector.ts';
import { BASE, until } from './helpers.ts';
import { SELF } from 'cloudflare:test';

const env = rawEnv as unknown as Env;
const meta = (commandId: string, actor: string) => ({ commandId, actor, now: Date.now() });

/** The account's row in the read model and its projection cursor. */
async function projected(key: string) {
  const [row, cursor] = await Promise.all([
    env.DB.prepare('SELECT available, held, credited FROM accounts WHERE id = ?').bind(key).first<{ available: string; held: string; credited: string }>(),
    env.DB.prepare('SELECT seq, head FROM projection_cursors WHERE object = ?').bind(`account:${key}`).first<{ seq: number; head: number }>(),
  ]);
  return { row, cursor };
}

/** Makes an account's check of the projector's cursor due now, as if it knew nothing applied, and runs its alarm. */
async function checkDueNow(key: string): Promise<void> {
  const stub = env.ACCOUNTS.get(env.ACCOUNTS.idFromName(key));
  await runInDurableObject(stub, (instance: AccountObject) => {
    const o = instance as unknown as { appliedSeq: number | null; appliedCheckAt: number | null };
    o.appliedSeq = 0;
    o.appliedCheckAt = 0;
  });
  await runDurableObjectAlarm(stub);
}

async function audit(): Promise<AuditReport> {
  return (await (await SELF.fetch(`${BASE}/v1/audit`)).json()) as AuditReport;
}

describe('the read models', () => {
  it('take in an account with 5,000 open holds completely (its view travels without them)', async () => {
    const key = 'many-holds';
    const account = accountObject(env, key);
    await account.execute(key, { type: 'Credit', ref: 'seed', amount: 1_000_000n, source: 'faucet' }, meta('seed', key));
    for (let i = 0; i < 5000; i += 100) {
      const held = await Promise.all(Array.from({ length: 100 }, (_, j) => account.execute(key, { type: 'Hold', holdId: `hold-${i + j}`, amount: 7n }, meta(`hold-${i + j}`, key))));
      expect(held.every((r) => r.ok)).toBe(true);
    }
    const balance = await account.balance();
    expect(balance.holds).toHaveLength(5000);
    const seq = (await account.integrity()).seq;
    const p = await until(async () => {
      const v = await projected(key);
      return v.cursor?.seq === seq ? v : undefined;
    }, 'the read model to apply all 5,001 events', 30_000);
    expect(p.row).toEqual({ available: balance.available.toString(), held: balance.held.toString(), credited: '1000000' });
    expect(p.cursor).toEqual({ seq, head: seq });
  });

  it('are sent again when what was sent never arrived, until they are whole', async () => {
    const key = 'lost-feed';
    const account = accountObject(env, key);
    await account.execute(key, { type: 'Credit', ref: 'seed', amount: 500n, source: 'faucet' }, meta('seed', key));
    await account.execute(key, { type: 'Hold', holdId: 'h', amount: 200n }, meta('hold', key));
    const seq = (await account.integrity()).seq;
    await until(async () => ((await projected(key)).cursor?.seq === seq ? true : undefined), 'the first feed');
    // The queue loses what it had (a restart of the local stack): the read model never saw this account.
    await env.DB.batch([env.DB.prepare('DELETE FROM accounts WHERE id = ?').bind(key), env.DB.prepare('DELETE FROM projection_cursors WHERE object = ?').bind(`account:${key}`)]);
    // The object only knows it sent everything; its check of the projector's cursor comes due.
    await checkDueNow(key);
    const p = await until(async () => {
      const v = await projected(key);
      return v.cursor?.seq === seq ? v : undefined;
    }, 'the read model to be whole again');
    expect(p.row).toEqual({ available: '300', held: '200', credited: '500' });
  });

  it('are not sent again while the projector has not reached their send: they may be queued behind a backlog', async () => {
    const key = 'queued-feed';
    const account = accountObject(env, key);
    await account.execute(key, { type: 'Credit', ref: 'seed', amount: 500n, source: 'faucet' }, meta('seed', key));
    const seq = (await account.integrity()).seq;
    await until(async () => ((await projected(key)).cursor?.seq === seq ? true : undefined), 'the first feed');
    // The projector is busy with messages sent before this object's (a backlog), and its cursor for the object is gone.
    const stub = env.ACCOUNTS.get(env.ACCOUNTS.idFromName(key));
    const sent = await runInDurableObject(stub, (instance: AccountObject) => (instance as unknown as { sentAt(): number }).sentAt());
    expect(sent).toBeGreaterThan(0);
    await env.DB.batch([
      env.DB.prepare('DELETE FROM projection_cursors WHERE object = ?').bind(`account:${key}`),
      env.DB.prepare('UPDATE projector_progress SET sent_until = ?, ran_at = ?').bind(sent - 60_000, Date.now() + 3_600_000),
    ]);
    await checkDueNow(key);
    const after = await runInDurableObject(stub, (instance: AccountObject) => {
      const o = instance as unknown as { appliedSeq: number | null; projectedSeq: number | null; appliedCheckAt: number | null; sentAt(): number };
      return { applied: o.appliedSeq, projected: o.projectedSeq, sentAt: o.sentAt(), checksAgain: (o.appliedCheckAt ?? 0) > Date.now() };
    });
    // It learnt the projector's cursor (nothing) but sent nothing again (its send time is the first feed's), and asks again later.
    expect(after).toEqual({ applied: 0, projected: seq, sentAt: sent, checksAgain: true });
    // Once the projector is past its send, the next check finds the feed lost and sends it again.
    await env.DB.prepare('UPDATE projector_progress SET sent_until = ?, ran_at = ?').bind(sent + 1, Date.now()).run();
    await runInDurableObject(stub, (instance: AccountObject) => void ((instance as unknown as { appliedCheckAt: number | null }).appliedCheckAt = 0));
    await runDurableObjectAlarm(stub);
    await until(async () => ((await projected(key)).cursor?.seq === seq ? true : undefined), 'the feed sent again');
  });

  it('converge when the object restarts mid-flow after the queue lost what it carried', async () => {
    const key = 'restart-mid-flow';
    let account = accountObject(env, key);
    const hold = (i: number) => account.execute(key, { type: 'Hold', holdId: `h${i}`, amount: 10n }, meta(`hold-${i}`, key));
    await account.execute(key, { type: 'Credit', ref: 'seed', amount: 1000n, source: 'faucet' }, meta('seed', key));
    for (let i = 0; i < 10; i++) await hold(i);
    const before = (await account.integrity()).seq;
    await until(async () => ((await projected(key)).cursor?.seq === before ? true : undefined), 'the first feed');
    // The whole stack restarts: the queue's undelivered messages are gone and the object's memory with them.
    await env.DB.batch([env.DB.prepare('DELETE FROM accounts WHERE id = ?').bind(key), env.DB.prepare('DELETE FROM projection_cursors WHERE object = ?').bind(`account:${key}`)]);
    const stub = env.ACCOUNTS.get(env.ACCOUNTS.idFromName(key));
    // workerd logs the aborted request as an uncaught exception ("jsg.Error: restart"); nothing else fails.
    await expect(runInDurableObject(stub, (_instance: AccountObject, state: DurableObjectState) => state.abort('restart'))).rejects.toThrow('restart');
    // The flow goes on against a fresh instance; its new run reaches a projector that lacks the earlier ones.
    account = accountObject(env, key);
    for (let i = 10; i < 20; i++) await hold(i);
    const balance = await account.balance();
    const seq = (await account.integrity()).seq;
    expect(seq).toBe(before + 10);
    const p = await until(async () => {
      const v = await projected(key);
      return v.cursor?.seq === seq ? v : undefined;
    }, 'the read model to apply the whole log again', 50_000);
    expect(p.row).toEqual({ available: balance.available.toString(), held: '200', credited: '1000' });
  });

  it('have a new instance ask D1 at once about events an earlier instance sent, instead of a timeout an eviction may never let come due', async () => {
    const key = 'fresh-instance-check';
    const account = accountObject(env, key);
    await account.execute(key, { type: 'Credit', ref: 'seed', amount: 100n, source: 'faucet' }, meta('seed', key));
    await account.execute(key, { type: 'Hold', holdId: 'h', amount: 10n }, meta('hold', key));
    const seq = (await account.integrity()).seq;
    await until(async () => ((await projected(key)).cursor?.seq === seq ? true : undefined), 'the first feed');
    // The feed was lost after all (the projector's record of it is gone), and the instance with it.
    await env.DB.batch([env.DB.prepare('DELETE FROM accounts WHERE id = ?').bind(key), env.DB.prepare('DELETE FROM projection_cursors WHERE object = ?').bind(`account:${key}`)]);
    const stub = env.ACCOUNTS.get(env.ACCOUNTS.idFromName(key));
    await expect(runInDurableObject(stub, (_instance: AccountObject, state: DurableObjectState) => state.abort('restart'))).rejects.toThrow('restart');
    // The new instance's first alarm asks D1, rewinds to what it says (nothing) and sends the log again.
    const restarted = env.ACCOUNTS.get(env.ACCOUNTS.idFromName(key));
    await runInDurableObject(restarted, (instance: AccountObject) => {
      const o = instance as unknown as { appliedCheckAt: number | null };
      expect(o.appliedCheckAt).toBeNull();
    });
    expect(await runDurableObjectAlarm(restarted)).toBe(true);
    const after = await runInDurableObject(restarted, (instance: AccountObject) => {
      const o = instance as unknown as { appliedSeq: number | null; projectedSeq: number | null };
      return { applied: o.appliedSeq, projected: o.projectedSeq };
    });
    expect(after).toEqual({ applied: 0, projected: seq });
    await until(async () => ((await projected(key)).cursor?.seq === seq ? true : undefined), 'the feed sent again');
  });

  it('take a queue batch in one go, apply a message delivered twice once, and let one bad message hold back nothing else', async () => {
    const ask = { askId: 'ask_projbatch', owner: 'provider-pb', price: '7', capacity: 2, attributes: {}, expiresAt: 4_000_000_000_000 };
    const good: ProjectionMessage = { source: 'market', object: 'proj-batch', first: 1, last: 1, head: 1, events: [{ seq: 1, type: 'AskPlaced', at: 1, actor: 'provider-pb', data: JSON.stringify(ask) }] };
    const bad: ProjectionMessage = { source: 'account', object: 'proj-batch-bad', first: 1, last: 1, head: 1, events: [], view: '{not json' };
    const later: ProjectionMessage = { source: 'account', object: 'proj-batch-ok', first: 1, last: 1, head: 1, events: [], view: JSON.stringify({ available: 5, held: 0, credited: 5, withdrawn: 0, payoutsSent: 0, payoutsReceived: 0 }) };
    const outcome = new Map<string, string>();
    const message = (body: ProjectionMessage, id: string) => ({ id, timestamp: new Date(), attempts: 1, body, ack: () => outcome.set(id, 'ack'), retry: () => outcome.set(id, 'retry') });
    const messages = [message(good, 'good'), message(good, 'again'), message(bad, 'bad'), message(later, 'later')];
    const batch = { queue: 'dougai-projections', messages, ackAll: () => messages.forEach((m) => m.ack()), retryAll: () => messages.forEach((m) => m.retry()) };
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      await project(batch as unknown as MessageBatch<ProjectionMessage>, env);
      expect(warn.mock.calls.map((c) => String(c[0]))).toEqual([expect.stringContaining('projection of account:proj-batch-bad:1..1 and view failed')]);
    } finally {
      warn.mockRestore();
    }
    expect(Object.fromEntries(outcome)).toEqual({ good: 'ack', again: 'ack', bad: 'retry', later: 'ack' });
    const rows = await env.DB.prepare("SELECT id, status, capacity FROM orders WHERE id = 'ask_projbatch'").all();
    expect(rows.results).toEqual([{ id: 'ask_projbatch', status: 'open', capacity: 2 }]);
    expect((await env.DB.prepare("SELECT COUNT(*) AS n FROM applied_events WHERE event_id = 'market:proj-batch:1'").first<{ n: number }>())?.n).toBe(1);
    expect(await projected('proj-batch-ok')).toMatchObject({ row: { available: '5', held: '0', credited: '5' }, cursor: { seq: 1, head: 1 } });
    expect((await projected('proj-batch-bad')).cursor).toBeNull();
  });

  it('make the audit say it is stale, and not ok, while any object lags', async () => {
    await env.DB.prepare('INSERT INTO projection_cursors (object, seq, head) VALUES (?, 3, 9)').bind('account:lagging').run();
    const behind = await audit();
    expect(behind).toMatchObject({ ok: false, stale: true });
    expect(behind.readModel.objectsBehind).toBeGreaterThanOrEqual(1);
    expect(behind.readModel.eventsBehind).toBeGreaterThanOrEqual(6);
    expect(behind.readModel.byKind.account?.eventsBehind).toBeGreaterThanOrEqual(6);
    await env.DB.prepare('UPDATE projection_cursors SET seq = 9 WHERE object = ?').bind('account:lagging').run();
    const caughtUp = await until(async () => {
      const a = await audit();
      return a.stale ? undefined : a;
    }, 'the audit to catch up');
    expect(caughtUp).toMatchObject({ ok: true, stale: false, readModel: { objectsBehind: 0, eventsBehind: 0, byKind: {} } });
  });
});
