import { describe, expect, it } from 'vitest';
import { createDelegation, generateKeypair, type Delegation } from '$contracts/auth.ts';
import { attributesArg, checkDelegation, decodeDelegation } from '../../../gpu-agent/src/cli.ts';
import {
  AGENT_KEY_COMMAND,
  agentCommand,
  agentDelegationRequest,
  agentKeyOf,
  askStatus,
  attributeWords,
  emptyAskForm,
  mergeOwnAsks,
  PENDING_MS,
  reputationOf,
  shellQuote,
  validateAsk,
  type AskForm,
  ASK_LIMITS,
} from './ask.ts';

const NOW = 1_700_000_000_000;
const MARKETS = ['cpu', 'gpu-24gb'];

function form(patch: Partial<AskForm> = {}): AskForm {
  return { ...emptyAskForm('gpu-24gb'), price: '0.05', capacity: '2', ...patch };
}

/** Splits a POSIX command line the way sh does for the quoting shellQuote produces. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      word += line.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '\\' && line[i + 1] === "'") {
      word += "'";
      i++;
      inWord = true;
    } else if (c === ' ') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** The agent's argv from the command text: the `npx doug-agent` line and its continuations. */
function agentArgv(command: string): string[] {
  const start = command.indexOf('npx doug-agent');
  const joined = command.slice(start).replace(/ \\\n\s*/g, ' ');
  return shellWords(joined).slice(2);
}

describe('validateAsk with a complete form', () => {
  it('gives the ask to place: exact price, slots, attributes and expiry', () => {
    const v = validateAsk(form({ price: '0.000000001', accelerator: ' rtx-4090 ', memoryGb: '24', region: 'eu-west', ttl: '6h' }), { now: NOW, markets: MARKETS });
    expect(v).toEqual({
      ok: true,
      input: { market: 'gpu-24gb', price: 1n, capacity: 2, attributes: { accelerator: 'rtx-4090', memoryGb: 24, region: 'eu-west' }, expiresAt: NOW + 6 * 3_600_000 },
    });
  });

  it('keeps free-form rows, numbers as numbers, and skips empty rows', () => {
    const v = validateAsk(form({ extra: [{ key: 'cudaCores', value: '16384' }, { key: '', value: '' }, { key: 'driver', value: '550.54' }, { key: 'tier', value: 'gold' }] }), { now: NOW, markets: MARKETS });
    expect(v.ok && v.input.attributes).toEqual({ cudaCores: 16384, driver: 550.54, tier: 'gold' });
  });

  it('keeps a 30-day ask inside the server limit', () => {
    const v = validateAsk(form({ ttl: '30d' }), { now: NOW, markets: MARKETS });
    expect(v.ok && v.input.expiresAt).toBeLessThan(NOW + 30 * 86_400_000);
    expect(v.ok && v.input.expiresAt).toBeGreaterThan(NOW + 29 * 86_400_000);
  });
});

describe('validateAsk with mistakes', () => {
  it('names each wrong field', () => {
    const v = validateAsk(form({ market: '', price: '0.0000000001', capacity: '0', memoryGb: 'lots', region: 'x'.repeat(ASK_LIMITS.attributeValueLength + 1), ttl: '2h' }), { now: NOW, markets: MARKETS });
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(Object.keys(v.errors).sort()).toEqual(['capacity', 'market', 'memoryGb', 'price', 'region', 'ttl']);
  });

  it('refuses a zero, negative or malformed price and a capacity over 1024', () => {
    for (const price of ['0', '-1', '1,5', '', 'abc', '1e3']) {
      const v = validateAsk(form({ price }), { now: NOW, markets: MARKETS });
      expect(!v.ok && v.errors.price, price).toBeTruthy();
    }
    const v = validateAsk(form({ capacity: '1025' }), { now: NOW, markets: MARKETS });
    expect(!v.ok && v.errors.capacity).toBeTruthy();
  });

  it('refuses a market the exchange does not have', () => {
    const v = validateAsk(form({ market: 'tpu' }), { now: NOW, markets: MARKETS });
    expect(!v.ok && v.errors.market).toBeTruthy();
  });

  it('refuses a bad key, a duplicate of a named field, and a key without a value', () => {
    const v = validateAsk(form({ accelerator: 'h100', extra: [{ key: '9lives', value: 'x' }, { key: 'accelerator', value: 'a100' }, { key: 'tier', value: '' }] }), { now: NOW, markets: MARKETS });
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.errors['extra.0']).toMatch(/letter/);
    expect(v.errors['extra.1']).toMatch(/twice/);
    expect(v.errors['extra.2']).toMatch(/value/);
  });

  it('refuses more than 16 attributes', () => {
    const extra = Array.from({ length: 17 }, (_, i) => ({ key: `k${i}`, value: 'v' }));
    const v = validateAsk(form({ extra }), { now: NOW, markets: MARKETS });
    expect(!v.ok && v.errors.extra).toMatch(/16/);
  });
});

describe('shellQuote', () => {
  it('leaves plain words bare and single-quotes the rest', () => {
    expect(shellQuote('http://127.0.0.1:8790')).toBe('http://127.0.0.1:8790');
    expect(shellQuote('region=eu-west')).toBe('region=eu-west');
    expect(shellQuote('accelerator=RTX 4090')).toBe("'accelerator=RTX 4090'");
    expect(shellQuote("it's $HOME; rm -rf ~")).toBe(`'it'\\''s $HOME; rm -rf ~'`);
    expect(shellQuote('')).toBe("''");
  });

  it('round-trips through a shell word split', () => {
    for (const word of ["a b", "it's", '$(x)', '`x`', 'a"b', "''", 'tab\there']) expect(shellWords(shellQuote(word))).toEqual([word]);
  });
});

/** A wallet's real signed delegation to a fresh agent key, as the page gets it from the wallet. */
async function signed(o: { period?: string; now?: number } = {}): Promise<{ delegation: Delegation; agentKey: string }> {
  const wallet = await generateKeypair();
  const agentKey = (await generateKeypair()).publicKey;
  const delegation = await createDelegation(wallet, agentDelegationRequest({ agentKey, period: o.period ?? '7d', now: o.now ?? Date.now() }));
  return { delegation, agentKey };
}

describe('agentCommand', () => {
  it('runs doug-agent with the form values, the page origin and the wallet delegation token, and no wallet key', async () => {
    const { delegation } = await signed();
    const text = agentCommand(form({ price: '0.050', accelerator: 'RTX 4090', memoryGb: '24', region: 'eu-west', ttl: '1d' }), { server: 'https://doug.example', delegation });
    const argv = agentArgv(text);
    expect(argv.slice(0, -1)).toEqual([
      '--server', 'https://doug.example',
      '--market', 'gpu-24gb',
      '--price', '0.05',
      '--capacity', '2',
      '--attr', 'accelerator=RTX 4090',
      '--attr', 'memoryGb=24',
      '--attr', 'region=eu-west',
      '--ttl', '1d',
      '--delegation',
    ]);
    expect(text).not.toContain('--wallet-key');
    expect(text).not.toContain('keygen');
    // The token is the header's encoding, and the agent reads back the delegation the wallet signed.
    const token = argv.at(-1)!;
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeDelegation(token)).toEqual(delegation);
    expect(text).toContain(`Authorised until ${new Date(delegation.expiresAt).toISOString().slice(0, 19)}Z`);
  });

  it('gives attributes the agent reads back as the portal sends them', async () => {
    const { delegation } = await signed();
    const f = form({ memoryGb: '23.5', extra: [{ key: 'note', value: "o'brien's box" }, { key: 'cores', value: '64' }] });
    const argv = agentArgv(agentCommand(f, { server: 'http://127.0.0.1:8790', delegation }));
    const attrs = argv.filter((_, i) => argv[i - 1] === '--attr');
    const v = validateAsk(f, { now: NOW, markets: MARKETS });
    expect(v.ok && attributesArg(attrs)).toEqual(v.ok && v.input.attributes);
  });

  it('shows placeholders for fields not valid yet and for the delegation before authorisation, never a made-up value', () => {
    const text = agentCommand(form({ market: '', price: 'abc', capacity: '' }), { server: 'http://127.0.0.1:8790', delegation: null });
    expect(text).toContain('--delegation <authorise first>');
    expect(text).toMatch(/Authorise the agent key first/);
    const argv = agentArgv(text);
    expect(argv.slice(2, 8)).toEqual(['--market', 'MARKET', '--price', 'PRICE', '--capacity', 'SLOTS']);
  });
});

describe('authorising an agent key', () => {
  it('accepts a base58 32-byte key as pasted and names what is wrong otherwise', async () => {
    const key = (await generateKeypair()).publicKey;
    expect(agentKeyOf(`  ${key}\n`)).toEqual({ key });
    expect(agentKeyOf('')).toEqual({ error: expect.stringMatching(/doug-agent key/) });
    for (const bad of ['0OIl'.repeat(10), key.slice(0, 20), `${key}${key}`, 'x'.repeat(44)]) expect('error' in agentKeyOf(bad), bad).toBe(true);
    expect(AGENT_KEY_COMMAND).toContain('npx doug-agent key');
  });

  it('asks the wallet for "asks" and "work" for the chosen period, which the agent accepts', async () => {
    const now = Date.now();
    const { delegation, agentKey } = await signed({ period: '30d', now });
    expect(delegation).toMatchObject({ delegate: agentKey, scopes: ['asks', 'work'], expiresAt: now + 30 * 86_400_000 });
    await expect(checkDelegation(delegation, { agentKey, now })).resolves.toBeUndefined();
    expect(agentDelegationRequest({ agentKey, period: '1d', now }).expiresAt).toBe(now + 86_400_000);
    expect(agentDelegationRequest({ agentKey, period: '7d', now }).expiresAt).toBe(now + 7 * 86_400_000);
  });
});

describe('mergeOwnAsks', () => {
  const ask = (id: string, status: string) => ({ id, status, expiresAt: NOW + 1000 });

  it('shows a placed ask at once, until the read model lists it', () => {
    const pending = new Map([['a2', { order: ask('a2', 'open'), at: NOW }]]);
    const before = mergeOwnAsks([ask('a1', 'open')], pending, NOW + 10);
    expect(before.rows.map((r) => r.id)).toEqual(['a2', 'a1']);
    expect(before.pending.size).toBe(1);
    const after = mergeOwnAsks([ask('a2', 'open'), ask('a1', 'open')], before.pending, NOW + 20);
    expect(after.rows.map((r) => r.id)).toEqual(['a2', 'a1']);
    expect(after.pending.size).toBe(0);
  });

  it('shows a cancelled ask cancelled while the read model still says open', () => {
    const pending = new Map([['a1', { order: ask('a1', 'cancelled'), at: NOW }]]);
    const lagging = mergeOwnAsks([ask('a1', 'open')], pending, NOW + 10);
    expect(lagging.rows.map((r) => r.status)).toEqual(['cancelled']);
    const caughtUp = mergeOwnAsks([ask('a1', 'cancelled')], lagging.pending, NOW + 20);
    expect(caughtUp.rows.map((r) => r.status)).toEqual(['cancelled']);
    expect(caughtUp.pending.size).toBe(0);
  });

  it('forgets an answer the read model never shows', () => {
    const pending = new Map([['a9', { order: ask('a9', 'open'), at: NOW }]]);
    expect(mergeOwnAsks([], pending, NOW + PENDING_MS + 1).rows).toEqual([]);
  });
});

describe('askStatus, attributeWords and reputationOf', () => {
  it('reads an open ask past its expiry as expired', () => {
    expect(askStatus({ id: 'a', status: 'open', expiresAt: NOW }, NOW)).toBe('expired');
    expect(askStatus({ id: 'a', status: 'open', expiresAt: NOW + 1 }, NOW)).toBe('open');
    expect(askStatus({ id: 'a', status: 'cancelled', expiresAt: NOW - 1 }, NOW)).toBe('cancelled');
  });

  it('lists attributes as key=value and ignores what is not one', () => {
    expect(attributeWords({ accelerator: 'rtx-4090', memoryGb: 24, odd: { x: 1 } })).toEqual(['accelerator=rtx-4090', 'memoryGb=24']);
    expect(attributeWords(null)).toEqual([]);
  });

  it('takes the record from the first ask that carries one', () => {
    expect(reputationOf([{ id: 'a', status: 'open' }, { id: 'b', status: 'open', reputation: { completed: 3, lapsed: 1, rejected: 0 } }])).toEqual({ completed: 3, lapsed: 1, rejected: 0 });
    expect(reputationOf([])).toBeNull();
  });
});
