import { describe, expect, it } from 'vitest';
import { chatKeyStorage, messagesOf, routeRows } from './chat.ts';

describe('the chat page', () => {
  it('keeps one key per wallet', () => {
    expect(chatKeyStorage('A')).not.toBe(chatKeyStorage('B'));
  });

  it('sends the turns that have text', () => {
    expect(messagesOf([{ role: 'user', content: 'Hi' }, { role: 'assistant', content: ' ' }])).toEqual([{ role: 'user', content: 'Hi' }]);
  });

  it('reads a route: layers per stage, and which stage a replacement took', () => {
    const route = [
      { stage: 0, from: 0, to: 1, agentKey: 'a', provider: 'P' },
      { stage: 1, from: 2, to: 2, agentKey: 'b', provider: 'Q' },
    ];
    expect(routeRows(route, [{ stage: 1 }])).toEqual([
      { stage: 0, layers: '0–1', provider: 'P', agentKey: 'a', replaced: false },
      { stage: 1, layers: '2', provider: 'Q', agentKey: 'b', replaced: true },
    ]);
  });
});
