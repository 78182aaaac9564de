import type { AttributeValue } from '$contracts/api.ts';
import { MARKET_ID } from '$contracts/api.ts';
import { decodePublicKey, encodeDelegation, type Delegation, type DelegationScope } from '$contracts/auth.ts';
import { formatDoug, MAX_AMOUNT, parseDoug } from '$domain/money.ts';
import { LIMITS } from '$domain/market/validate.ts';
import { API_LIMITS, ATTRIBUTE_KEY } from '$contracts/schemas.ts';

/**
 * The provider's ask form: validation with the server's rules (workers/routes/orders.ts) and the
 * `doug-agent` command line the same values make (gpu-agent/src/cli.ts). Pure, for unit tests.
 */

/** One free-form attribute row of the form; both empty means "no row". */
export interface AttributeRow {
  key: string;
  value: string;
}

/** The form as typed: every field is text until validated. */
export interface AskForm {
  market: string;
  /** DOUG per work unit, e.g. "0.05". */
  price: string;
  /** Concurrent slots. */
  capacity: string;
  accelerator: string;
  /** GPU (or machine) memory in GB. */
  memoryGb: string;
  region: string;
  extra: AttributeRow[];
  /** How long the ask rests: one of TTL_CHOICES. */
  ttl: string;
}

export type AskField = 'market' | 'price' | 'capacity' | 'accelerator' | 'memoryGb' | 'region' | 'ttl' | 'extra';
/** Messages per field; free-form rows are `extra.<index>`. */
export type AskErrors = Partial<Record<AskField | `extra.${number}`, string>>;

/** What `placeAsk` takes (without market-independent defaults such as the client id). */
export interface AskInput {
  market: string;
  price: bigint;
  capacity: number;
  attributes: Record<string, AttributeValue>;
  expiresAt: number;
}

export type AskValidation = { ok: true; input: AskInput } | { ok: false; errors: AskErrors };

/** Ask lifetimes offered, as `doug-agent --ttl` spells them (the agent re-lists before one ends). */
export const TTL_CHOICES = [
  { value: '1h', label: '1 hour', ms: 3_600_000 },
  { value: '6h', label: '6 hours', ms: 6 * 3_600_000 },
  { value: '1d', label: '1 day', ms: 86_400_000 },
  { value: '7d', label: '7 days', ms: 7 * 86_400_000 },
  { value: '30d', label: '30 days', ms: 30 * 86_400_000 },
] as const;
export const DEFAULT_TTL = '1h';

/** Server limits of an ask: the market's (domain/market/validate.ts) and the API's (contracts/schemas.ts). */
export const ASK_LIMITS = {
  capacity: LIMITS.capacity,
  attributes: LIMITS.attributes,
  attributeValueLength: LIMITS.attributeStringLength,
  attributeNumber: API_LIMITS.attributeNumber,
  maxTtlMs: API_LIMITS.maxTtlMs,
} as const;
/** Kept off the 30-day limit so that a browser clock a little ahead of the server's is not refused. */
const CLOCK_MARGIN_MS = 5 * 60_000;

export { ATTRIBUTE_KEY };
/** The keys the named form fields fill (the agent and the offers filters use the same ones). */
const NAMED_KEYS = ['accelerator', 'memoryGb', 'region'] as const;

export function emptyAskForm(market = ''): AskForm {
  return { market, price: '', capacity: '1', accelerator: '', memoryGb: '', region: '', extra: [], ttl: DEFAULT_TTL };
}

/** An attribute value as the agent reads `--attr key=value`: a number when it reads as one, else the text. */
export function attributeValue(text: string): AttributeValue {
  return /^-?[0-9]+(\.[0-9]+)?$/.test(text) && Number.isFinite(Number(text)) ? Number(text) : text;
}

function priceOf(text: string): { price: bigint } | { error: string } {
  const t = text.trim();
  if (t === '') return { error: 'Enter a price per work unit, e.g. 0.05.' };
  const price = parseDoug(t);
  if (price === null) return { error: 'A plain decimal in DOUG with up to 9 places, e.g. 0.05.' };
  if (price < 1n) return { error: 'The price must be more than 0.' };
  if (price > MAX_AMOUNT) return { error: 'That price is too large.' };
  return { price };
}

function capacityOf(text: string): { capacity: number } | { error: string } {
  const t = text.trim();
  const { min, max } = ASK_LIMITS.capacity;
  if (!/^[0-9]{1,5}$/.test(t)) return { error: `A whole number of slots, ${min} to ${max}.` };
  const n = Number(t);
  if (n < min || n > max) return { error: `A whole number of slots, ${min} to ${max}.` };
  return { capacity: n };
}

function textAttribute(text: string): { value: string | null } | { error: string } {
  const t = text.trim();
  if (t === '') return { value: null };
  if (t.length > ASK_LIMITS.attributeValueLength) return { error: `At most ${ASK_LIMITS.attributeValueLength} characters.` };
  return { value: t };
}

function memoryOf(text: string): { value: number | null } | { error: string } {
  const t = text.trim();
  if (t === '') return { value: null };
  if (!/^[0-9]{1,7}(\.[0-9]{1,3})?$/.test(t)) return { error: 'Memory in GB, e.g. 24 or 23.5.' };
  const n = Number(t);
  if (n <= 0) return { error: 'Memory must be more than 0 GB.' };
  return { value: n };
}

function ttlOf(text: string): { ms: number } | { error: string } {
  const choice = TTL_CHOICES.find((c) => c.value === text);
  return choice ? { ms: choice.ms } : { error: 'Choose how long the ask rests.' };
}

/** The free-form rows as attributes, each row's problem keyed by its index. */
function extraAttributes(rows: AttributeRow[], taken: Set<string>, errors: AskErrors): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  rows.forEach((row, i) => {
    const key = row.key.trim();
    const value = row.value.trim();
    if (key === '' && value === '') return;
    if (!ATTRIBUTE_KEY.test(key)) errors[`extra.${i}`] = `A key starts with a letter: letters, digits and _ only, up to ${LIMITS.attributeKeyLength}.`;
    else if (taken.has(key)) errors[`extra.${i}`] = `${key} is given twice.`;
    else if (value === '') errors[`extra.${i}`] = 'Give a value, or clear the key.';
    else if (value.length > ASK_LIMITS.attributeValueLength) errors[`extra.${i}`] = `At most ${ASK_LIMITS.attributeValueLength} characters.`;
    else {
      const v = attributeValue(value);
      if (typeof v === 'number' && Math.abs(v) > ASK_LIMITS.attributeNumber) errors[`extra.${i}`] = 'That number is too large.';
      else out[key] = v;
    }
    taken.add(key);
  });
  return out;
}

/** The named and free-form attributes of the form, whichever are valid, with the problems found. */
function formAttributes(form: AskForm, errors: AskErrors): Record<string, AttributeValue> {
  const attributes: Record<string, AttributeValue> = {};
  const accelerator = textAttribute(form.accelerator);
  if ('error' in accelerator) errors.accelerator = accelerator.error;
  else if (accelerator.value !== null) attributes.accelerator = accelerator.value;
  const memory = memoryOf(form.memoryGb);
  if ('error' in memory) errors.memoryGb = memory.error;
  else if (memory.value !== null) attributes.memoryGb = memory.value;
  const region = textAttribute(form.region);
  if ('error' in region) errors.region = region.error;
  else if (region.value !== null) attributes.region = region.value;
  const taken = new Set<string>(NAMED_KEYS.filter((k) => form[k].trim() !== ''));
  Object.assign(attributes, extraAttributes(form.extra, taken, errors));
  if (Object.keys(attributes).length > ASK_LIMITS.attributes) errors.extra = `At most ${ASK_LIMITS.attributes} attributes in all.`;
  return attributes;
}

/** Checks the form as the server would; on success, the ask to place (expiry from `now`). */
export function validateAsk(form: AskForm, o: { now: number; markets: readonly string[] }): AskValidation {
  const errors: AskErrors = {};
  const market = form.market.trim();
  if (market === '') errors.market = 'Choose a market.';
  else if (!MARKET_ID.test(market) || (o.markets.length > 0 && !o.markets.includes(market))) errors.market = 'Not a market of this exchange.';
  const price = priceOf(form.price);
  if ('error' in price) errors.price = price.error;
  const capacity = capacityOf(form.capacity);
  if ('error' in capacity) errors.capacity = capacity.error;
  const attributes = formAttributes(form, errors);
  const ttl = ttlOf(form.ttl);
  if ('error' in ttl) errors.ttl = ttl.error;
  if (Object.keys(errors).length > 0 || 'error' in price || 'error' in capacity || 'error' in ttl) return { ok: false, errors };
  const lifetime = Math.min(ttl.ms, ASK_LIMITS.maxTtlMs - CLOCK_MARGIN_MS);
  return { ok: true, input: { market, price: price.price, capacity: capacity.capacity, attributes, expiresAt: o.now + lifetime } };
}

const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes a word for a POSIX shell: bare when it is plainly safe, else in single quotes. */
export function shellQuote(word: string): string {
  if (SHELL_SAFE.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Where `doug-agent` keeps its own key by default (gpu-agent/src/cli.ts). */
export const AGENT_KEY_PATH = '~/.config/doug/agent.json';

/** What the provider runs first: prints the agent's public key, making the key file if missing. */
export const AGENT_KEY_COMMAND = ['# In a DougAI checkout, after `npm install`, on the machine with the GPU.', `# Prints the agent's public key (its key file: ${AGENT_KEY_PATH}).`, 'npx doug-agent key'].join('\n');

/** What the wallet lets the agent key do: list asks and take work (never withdraw). */
export const AGENT_SCOPES: DelegationScope[] = ['asks', 'work'];

/** How long an agent's authorisation lasts; the agent cannot renew it and stops when it ends. */
export const AGENT_PERIODS = [
  { value: '1d', label: '1 day', ms: 86_400_000 },
  { value: '7d', label: '7 days', ms: 7 * 86_400_000 },
  { value: '30d', label: '30 days', ms: 30 * 86_400_000 },
] as const;
export const DEFAULT_AGENT_PERIOD = '7d';

/** The agent key as pasted, or why it is not one: a base58 ed25519 public key (32 bytes). */
export function agentKeyOf(text: string): { key: string } | { error: string } {
  const t = text.trim();
  if (t === '') return { error: 'Paste the public key that `doug-agent key` printed.' };
  if (!decodePublicKey(t)) return { error: 'Not a public key: 32 to 44 base58 characters, as `doug-agent key` prints it.' };
  return { key: t };
}

/** The delegation the wallet signs for an agent key, from the chosen period (1 day when unknown). */
export function agentDelegationRequest(o: { agentKey: string; period: string; now: number }): { delegate: string; scopes: DelegationScope[]; expiresAt: number } {
  const ms = AGENT_PERIODS.find((p) => p.value === o.period)?.ms ?? AGENT_PERIODS[0].ms;
  return { delegate: o.agentKey, scopes: [...AGENT_SCOPES], expiresAt: o.now + ms };
}

/** Shown in place of the token until the wallet has authorised the agent key. */
export const DELEGATION_PLACEHOLDER = '<authorise first>';

/**
 * The `doug-agent` command the provider runs, from the form as it stands and the wallet's
 * delegation to the agent key (`--delegation`, the token the API header carries). Fields that are
 * not valid yet show as a placeholder in capitals (PRICE, MARKET…) and a missing delegation as
 * `<authorise first>`, which a shell refuses, so a half-filled form never yields a command that
 * runs with values nobody chose.
 */
export function agentCommand(form: AskForm, o: { server: string; delegation: Delegation | null }): string {
  const errors: AskErrors = {};
  const market = MARKET_ID.test(form.market.trim()) ? form.market.trim() : 'MARKET';
  const price = priceOf(form.price);
  const capacity = capacityOf(form.capacity);
  const attributes = formAttributes(form, errors);
  const ttl = TTL_CHOICES.find((c) => c.value === form.ttl)?.value ?? DEFAULT_TTL;
  const args: string[] = [
    `--server ${shellQuote(o.server)}`,
    `--market ${shellQuote(market)}`,
    `--price ${'price' in price ? formatDoug(price.price) : 'PRICE'}`,
    `--capacity ${'capacity' in capacity ? capacity.capacity : 'SLOTS'}`,
    ...Object.entries(attributes).map(([k, v]) => `--attr ${shellQuote(`${k}=${v}`)}`),
    `--ttl ${ttl}`,
    `--delegation ${o.delegation ? shellQuote(encodeDelegation(o.delegation)) : DELEGATION_PLACEHOLDER}`,
  ];
  const until = o.delegation ? new Date(o.delegation.expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z') : null;
  return [
    '# On the same machine, with the same agent key.',
    until ? `# Authorised until ${until}: then the agent stops.` : '# Authorise the agent key first (step 2).',
    `npx doug-agent \\\n  ${args.join(' \\\n  ')}`,
  ].join('\n');
}

/** An ask as GET /v1/asks or POST /v1/asks answer it (OrderView's loose fields, read safely). */
export interface AskLike {
  id: string;
  status: string;
  expiresAt?: unknown;
  [field: string]: unknown;
}

/** An answer of this page's own placing or cancelling, kept until the read model shows it. */
export interface PendingAsk<T extends AskLike = AskLike> {
  order: T;
  at: number;
}

/** How long an answer is laid over the read model at most (it normally catches up in a second or two). */
export const PENDING_MS = 120_000;

/**
 * The provider's asks as the read model lists them (newest first), with the answers of this page's
 * own placements and cancels laid over until the read model catches up: a placed ask shows at once,
 * a cancelled one shows cancelled even while the read model still says open. Returns the rows and
 * the answers still pending.
 */
export function mergeOwnAsks<T extends AskLike>(projected: readonly T[], pending: ReadonlyMap<string, PendingAsk<T>>, now: number): { rows: T[]; pending: Map<string, PendingAsk<T>> } {
  const keep = new Map<string, PendingAsk<T>>();
  const byId = new Map(projected.map((o) => [o.id, o]));
  const fresh: T[] = [];
  for (const [id, p] of pending) {
    if (now - p.at > PENDING_MS) continue;
    const seen = byId.get(id);
    if (!seen) {
      keep.set(id, p);
      fresh.push(p.order);
    } else if (p.order.status !== 'open' && seen.status === 'open') {
      keep.set(id, p);
      byId.set(id, { ...seen, status: p.order.status });
    }
  }
  fresh.sort((a, b) => (keep.get(b.id)?.at ?? 0) - (keep.get(a.id)?.at ?? 0));
  return { rows: [...fresh, ...projected.map((o) => byId.get(o.id)!)], pending: keep };
}

/** The status to show: an open ask past its expiry is expired, whatever the read model says yet. */
export function askStatus(ask: AskLike, now: number): string {
  return ask.status === 'open' && typeof ask.expiresAt === 'number' && ask.expiresAt <= now ? 'expired' : ask.status;
}

/** An ask's attributes as "key=value" words, in the order given. */
export function attributeWords(attributes: unknown): string[] {
  if (attributes === null || typeof attributes !== 'object' || Array.isArray(attributes)) return [];
  return Object.entries(attributes as Record<string, unknown>)
    .filter(([, v]) => typeof v === 'string' || typeof v === 'number')
    .map(([k, v]) => `${k}=${String(v)}`);
}

/** A provider's record from any of their asks (the read model gives each ask its owner's record). */
export function reputationOf(asks: readonly AskLike[]): { completed: number; lapsed: number; rejected: number } | null {
  for (const a of asks) {
    const r = a.reputation as Record<string, unknown> | undefined;
    if (r && typeof r.completed === 'number' && typeof r.lapsed === 'number' && typeof r.rejected === 'number') return { completed: r.completed, lapsed: r.lapsed, rejected: r.rejected };
  }
  return null;
}
