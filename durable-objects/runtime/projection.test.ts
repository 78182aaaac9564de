import { describe, expect, it } from 'vitest';
import type { ProjectedEvent } from './env.ts';
import { ACK_CHECK_MS, ACK_TIMEOUT_MS, ackRecheckMs, MAX_BATCH_BYTES, MAX_BATCH_MESSAGES, MAX_MESSAGE_BYTES, packProjection, projectionBackoffMs, size as utf8Size, unappliedVerdict } from './projection.ts';

const event = (seq: number, bytes = 100): ProjectedEvent => ({ seq, type: 'FundsHeld', at: 1, actor: 'a', data: 'x'.repeat(bytes) });
const events = (n: number, bytes?: number) => Array.from({ length: n }, (_, i) => event(i + 1, bytes));
const size = (v: unknown) => new TextEncoder().encode(JSON.stringify(v)).byteLength;

describe('packing events for the read models', () => {
  it('counts UTF-8 bytes as TextEncoder does, without encoding', () => {
    const texts = ['', 'plain {"a":"1"}', 'é', 'añb€', '€'.repeat(7), '😀x😀', '\ud83d', 'a\ude00b', 'x\ud83d', String.fromCharCode(0x7f, 0x80, 0x7ff, 0x800, 0xffff)];
    for (const t of texts) expect(utf8Size(t), JSON.stringify(t)).toBe(new TextEncoder().encode(t).byteLength);
  });
  it('covers every event once, in order, in consecutive runs', () => {
    const batches = packProjection({ source: 'account', object: 'k', head: 5000, events: events(5000, 300) });
    const messages = batches.flat();
    expect(messages.flatMap((m) => m.events.map((e) => e.seq))).toEqual(events(5000).map((e) => e.seq));
    for (const [i, m] of messages.entries()) {
      expect(m.first).toBe(m.events[0]!.seq);
      expect(m.last).toBe(m.events[m.events.length - 1]!.seq);
      if (i > 0) expect(m.first).toBe(messages[i - 1]!.last + 1);
    }
  });
  it('keeps every message and every batch within the queue limits', () => {
    const batches = packProjection({ source: 'market', object: 'cpu', head: 3000, events: events(3000, 900), view: 'v'.repeat(50_000) });
    expect(batches.length).toBeGreaterThan(1);
    for (const b of batches) {
      expect(b.length).toBeLessThanOrEqual(MAX_BATCH_MESSAGES);
      expect(size(b)).toBeLessThanOrEqual(MAX_BATCH_BYTES + 8 * b.length);
      for (const m of b) expect(size(m)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES + 2_000);
    }
  });
  it('puts the view on the last message only, beside the last event', () => {
    const messages = packProjection({ source: 'job', object: 'j', head: 400, events: events(400, 1000), view: 'v'.repeat(90_000) }).flat();
    expect(messages.filter((m) => m.view !== undefined).map((m) => m.last)).toEqual([400]);
    for (const m of messages) expect(size(m)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES + 2_000);
  });
  it('backs off exponentially after failures, capped', () => {
    expect([1, 2, 3, 4].map(projectionBackoffMs)).toEqual([500, 1000, 2000, 4000]);
    expect(projectionBackoffMs(30)).toBe(60_000);
  });
});

describe('events sent but not yet applied', () => {
  const sentAt = 1_000_000;
  const at = (now: number, sentUntil: number, ranAt: number) => unappliedVerdict({ sentAt, now, progress: { sentUntil, ranAt } });
  it('are sent again once the projector has applied a message sent as late: they were lost', () => {
    expect(at(sentAt + 1, sentAt, sentAt + 1)).toBe('rewind');
    expect(at(sentAt + 5, sentAt + 3, sentAt + 5)).toBe('rewind');
  });
  it('wait while the projector, busy, has not reached their send: they may be queued behind a backlog', () => {
    expect(at(sentAt + ACK_TIMEOUT_MS * 6, sentAt - 1, sentAt + ACK_TIMEOUT_MS * 6 - 1)).toBe('wait');
    expect(at(sentAt + 1, sentAt - 30_000, sentAt)).toBe('wait');
  });
  it('are sent again once the projector has applied nothing for the timeout: nothing is queued', () => {
    expect(at(sentAt + ACK_TIMEOUT_MS, sentAt - 1, sentAt)).toBe('rewind');
    expect(at(sentAt + ACK_TIMEOUT_MS - 1, sentAt - 1, sentAt)).toBe('wait');
  });
  it('with a projector that never ran, wait the timeout from their send, then send them again', () => {
    expect(unappliedVerdict({ sentAt, now: sentAt + ACK_TIMEOUT_MS - 1, progress: null })).toBe('wait');
    expect(unappliedVerdict({ sentAt, now: sentAt + ACK_TIMEOUT_MS, progress: null })).toBe('rewind');
  });
  it('from an object whose send time was never recorded (sent before it was), are sent again as before', () => {
    expect(unappliedVerdict({ sentAt: 0, now: sentAt, progress: { sentUntil: 1, ranAt: sentAt } })).toBe('rewind');
  });
});

describe('asking whether sent events were applied', () => {
  it('asks a minute after a send, and, while they stay queued, from 10 s doubling, never less often than the first check', () => {
    expect(ACK_CHECK_MS).toBe(60_000);
    expect([1, 2, 3, 4, 5, 6].map(ackRecheckMs)).toEqual([10_000, 20_000, 40_000, 60_000, 60_000, 60_000]);
  });
});
