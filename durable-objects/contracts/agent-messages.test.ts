import { describe, expect, it } from 'vitest';
import { MAX_PREFETCH } from '../domain/dispatch/index.ts';
import { parseAgentMessage } from './agent-messages.ts';

const RUNTIME = { onnxruntime: '1.30.0', executionProvider: 'cpu', platform: 'linux', arch: 'x64', cpuFeatures: ['avx2'] };
const hello = { type: 'hello', v: 1, agentKey: 'k', signature: 's', askId: 'a', hardware: { cpuModel: 'x', cores: 2, memoryGb: 4, gpus: [] }, runtime: RUNTIME };

describe('an agent frame', () => {
  it('parses to its typed message, missing hardware details defaulted', () => {
    expect(parseAgentMessage(JSON.stringify({ type: 'ready', slots: 2 }))).toEqual({ ok: true, message: { type: 'ready', slots: 2 } });
    expect(parseAgentMessage(JSON.stringify({ type: 'ready', slots: 0, prefetch: 2 }))).toEqual({ ok: true, message: { type: 'ready', slots: 0, prefetch: 2 } });
    expect(parseAgentMessage(JSON.stringify({ type: 'start', jobId: 'j', leaseId: 'l' }))).toEqual({ ok: true, message: { type: 'start', jobId: 'j', leaseId: 'l' } });
    const parsed = parseAgentMessage(JSON.stringify({ ...hello, hardware: {} }));
    expect(parsed.ok && parsed.message.type === 'hello' && parsed.message.hardware).toEqual({ cpuModel: '', cores: 0, memoryGb: 0, gpus: [] });
  });

  it('is refused with a code, the field and the message type, whatever it holds', () => {
    expect(parseAgentMessage('{"type":"error","leaseId":{"toString":1}}')).toMatchObject({ ok: false, code: 'AGENT__MALFORMED_MESSAGE', ref: 'error' });
    expect(parseAgentMessage('{"type":"ready","slots":-1}')).toEqual({ ok: false, code: 'AGENT__MALFORMED_MESSAGE', message: 'slots must be between 0 and 1024', ref: 'ready' });
    expect(parseAgentMessage('{"type":"result","jobId":"j","leaseId":"l","outputs":[],"outputDigest":"x","timings":{}}')).toMatchObject({ ok: false, code: 'AGENT__RESULT_INVALID', ref: 'result' });
    expect(parseAgentMessage(`{"type":"ready","slots":1,"prefetch":${MAX_PREFETCH + 1}}`)).toEqual({ ok: false, code: 'AGENT__MALFORMED_MESSAGE', message: `prefetch must be between 0 and ${MAX_PREFETCH}`, ref: 'ready' });
    expect(parseAgentMessage('{"type":"ready","slots":1,"prefetch":"2"}')).toMatchObject({ ok: false, code: 'AGENT__MALFORMED_MESSAGE', ref: 'ready' });
    expect(parseAgentMessage('{"type":"start","jobId":"j"}')).toMatchObject({ ok: false, code: 'AGENT__MALFORMED_MESSAGE', ref: 'start' });
    expect(parseAgentMessage('{"type":"dance"}')).toMatchObject({ ok: false, code: 'AGENT__MALFORMED_MESSAGE', ref: 'dance' });
    expect(parseAgentMessage('{not json')).toEqual({ ok: false, code: 'AGENT__MALFORMED_MESSAGE', message: 'messages must be JSON' });
    expect(parseAgentMessage('[1]')).toMatchObject({ ok: false, code: 'AGENT__MALFORMED_MESSAGE' });
  });
});
