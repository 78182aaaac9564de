import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { AgentMessage } from '../../../durable-objects/contracts/agent.ts';
import { StageHost } from './stage-host.ts';

/** Two agents' stage hosts of the shipped model cut in 2, the second taking direct steps on loopback. */
describe('direct steps between agents', () => {
  let first: StageHost;
  let second: StageHost;
  let url: string;
  const heard: { from: 'first' | 'second'; message: AgentMessage }[] = [];
  const to = (from: 'first' | 'second') => (message: AgentMessage) => (heard.push({ from, message }), true);
  const next = (predicate: (h: (typeof heard)[number]) => boolean) =>
    new Promise<(typeof heard)[number]>((resolve) => {
      const poll = () => {
        const h = heard.find(predicate);
        if (h) resolve(h);
        else setTimeout(poll, 5);
      };
      poll();
    });

  beforeAll(async () => {
    first = await StageHost.open('examples/chat', { stages: 2, hold: [0] });
    second = await StageHost.open('examples/chat', { stages: 2, hold: [1] });
    url = await second.listen('127.0.0.1', 0);
  });
  afterAll(async () => {
    await first.release();
    await second.release();
  });

  const manifest = () => first.folder.manifestSha256;

  it('carries a step from the first stage to the last, which answers the server with the token', async () => {
    second.handle({ type: 'stage-open', manifest: manifest(), index: 1, session: 's1', auth: 'grant-1' }, to('second'));
    first.handle({ type: 'stage-step', id: 'step-a', manifest: manifest(), index: 0, session: 's1', step: 0, start: 0, tokens: [40, 41, 42], sampling: { temperature: 0, topP: 1, seed: 0 }, forward: [{ url, index: 1, auth: 'grant-1' }] }, to('first'));
    const answer = await next((h) => h.message.type === 'stage-output' && h.message.id === 'step-a');
    expect(answer.from).toBe('second');
    expect(answer.message).toMatchObject({ type: 'stage-output', id: 'step-a', token: expect.any(Number) });
    // The first stage sent nothing to the server: its output went to the second directly.
    expect(heard.filter((h) => h.from === 'first')).toEqual([]);
  });

  it('refuses a direct step without the session’s grant, and grows no cache', async () => {
    const ws = new WebSocket(url);
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'stage-step', id: 'forged', manifest: manifest(), index: 1, session: 's1', step: 1, start: 3, hidden: 'AAAAAA', auth: 'guess' }));
    const refusal = await next((h) => h.message.type === 'stage-error' && h.message.id === 'forged');
    expect(refusal.message).toMatchObject({ code: 'STAGE__BAD_INPUT', stage: 1 });
    ws.close();
  });

  it('tells the server which stage could not be reached', async () => {
    first.handle({ type: 'stage-step', id: 'step-b', manifest: manifest(), index: 0, session: 's2', step: 0, start: 0, tokens: [1, 2], forward: [{ url: 'ws://127.0.0.1:1', index: 1, auth: 'x' }] }, to('first'));
    const refusal = await next((h) => h.message.type === 'stage-error' && h.message.id === 'step-b');
    expect(refusal).toMatchObject({ from: 'first', message: { code: 'STAGE__FAILED', stage: 1 } });
  });
});
