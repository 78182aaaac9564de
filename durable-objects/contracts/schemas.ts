import * as v from 'valibot';
import { DECIMAL_STRING, MAX_AMOUNT, UNITS_PER_DOUG, parseAmount } from '../domain/money.ts';
import { LIMITS } from '../domain/market/validate.ts';
import { isPublicKey, isSignature } from '../domain/custody/keys.ts';
import { TENSOR_DTYPES, tensorProblem, type WireTensor } from './tensors.ts';
import { CLIENT_ID, MARKET_ID } from './api.ts';
import { CHAT_RULES } from '../domain/chat/rules.ts';
import { API_KEY_ID } from '../domain/account/index.ts';

/**
 * One schema per request body and query of the HTTP API (docs/architecture.md, "Protocols"). The
 * Worker validates with them, the SDK takes its request types from them, the portal its limits, and
 * GET /v1/openapi.json its request bodies and parameters. A limit the market enforces is the
 * domain's (`LIMITS`); the ones only the edge enforces are `API_LIMITS`.
 */
export const API_LIMITS = {
  /** Furthest an order's expiry may lie ahead: 30 days. */
  maxTtlMs: 30 * 24 * 3600_000,
  /** Most asks one batch may carry. */
  batchAsks: 100,
  /** Most tensors one input set may hold. */
  tensors: 64,
  /** Largest input set (raw bytes), inline in a bid or uploaded with PUT /v1/inputs. */
  inputBytes: 4 * 1024 * 1024,
  /** Largest declared input size of a job whose inputs were uploaded before. */
  declaredInputBytes: 1 << 30,
  /** Largest tolerance a job may accept between replicas. */
  tolerance: 1e6,
  /** Attribute numbers lie within ± this. */
  attributeNumber: 1e12,
  /** Most a faucet request may credit: 1,000,000 DOUG. */
  faucet: 1_000_000n * UNITS_PER_DOUG,
  /** Page sizes of read-model lists and of event histories. */
  pageLimit: { min: 1, max: 200, fallback: 50 },
  historyLimit: { min: 1, max: 500, fallback: 100 },
  depth: { min: 1, max: 100, fallback: 20 },
} as const;

/** Attribute and requirement keys: a letter, then letters, digits or underscores. */
export const ATTRIBUTE_KEY = new RegExp(`^[A-Za-z][A-Za-z0-9_]{0,${LIMITS.attributeKeyLength - 1}}$`);
export const HEX64 = /^[0-9a-f]{64}$/;
export const REQUIREMENT_OPS = ['eq', 'neq', 'gte', 'lte', 'in'] as const;
export const ORDER_SORTS = ['price', '-price', 'newest', 'memory', 'reputation'] as const;
export const ORDER_STATUSES = ['open', 'matched', 'cancelled', 'expired', 'all'] as const;

// ---- building blocks ---------------------------------------------------------------------------

const between = (min: number, max: number) => `must be between ${min} and ${max}`;
const integer = (min: number, max: number) =>
  v.pipe(v.number('must be an integer'), v.safeInteger('must be an integer'), v.minValue(min, between(min, max)), v.maxValue(max, between(min, max)));
const text = (max: number) => v.pipe(v.string('must be a string'), v.minLength(1, 'must not be empty'), v.maxLength(max, `must be at most ${max} characters`));
const matching = (pattern: RegExp, max = 256) => v.pipe(text(max), v.regex(pattern, `must match ${pattern.source}`));
const number = (min: number, max: number) =>
  v.pipe(v.number('must be a number'), v.finite('must be a number'), v.minValue(min, between(min, max)), v.maxValue(max, between(min, max)));

/** A $DOUG amount in base units as a decimal string (JSON numbers lose precision and are refused); parsed to bigint. */
export const amount = (max: bigint = MAX_AMOUNT) =>
  v.pipe(
    v.string('must be a decimal string of base units, not a number'),
    v.regex(DECIMAL_STRING, `must be a decimal string of base units between 0 and ${MAX_AMOUNT}`),
    v.check((s) => parseAmount(s) !== null, `must be a decimal string of base units between 0 and ${MAX_AMOUNT}`),
    v.transform((s) => BigInt(s)),
    v.minValue(1n, 'must be at least 1'),
    v.maxValue(max, `must be at most ${max}`),
  );

const market = matching(MARKET_ID, 32);
const clientId = matching(CLIENT_ID, 64);
const sha256 = v.pipe(v.string('must be a string'), v.regex(HEX64, 'must be 64 lowercase hex characters'));
/** Ms since the epoch; how far ahead it may lie is checked against the clock (`expiryProblem`). */
const expiresAt = v.pipe(v.number('must be an integer'), v.safeInteger('must be an integer'), v.minValue(1, 'must be in the future'));

const attributeString = text(LIMITS.attributeStringLength);
const attributeValue = v.union([number(-API_LIMITS.attributeNumber, API_LIMITS.attributeNumber), attributeString], `must be a number or a string of 1-${LIMITS.attributeStringLength} characters`);
const attributes = v.pipe(
  v.record(matching(ATTRIBUTE_KEY, LIMITS.attributeKeyLength), attributeValue, 'must be an object'),
  v.maxEntries(LIMITS.attributes, `must have at most ${LIMITS.attributes} keys`),
);

const requirementKey = matching(ATTRIBUTE_KEY, LIMITS.attributeKeyLength);
const inValues = `must be an array of 1-${LIMITS.inValues} values for op "in"`;
/** What a requirement's value must be for its op, or null when it is. */
function requirementValueProblem(r: { op: (typeof REQUIREMENT_OPS)[number]; value: unknown }): string | null {
  if (r.op === 'in') return Array.isArray(r.value) ? null : inValues;
  if (Array.isArray(r.value)) return `must be a single value for op "${r.op}"`;
  if ((r.op === 'gte' || r.op === 'lte') && typeof r.value !== 'number') return `must be a number for op "${r.op}"`;
  return null;
}
/** One constraint of a bid on the asks it accepts; the op decides what its value may be. */
export const RequirementSchema = v.pipe(
  v.strictObject(
    {
      key: matching(ATTRIBUTE_KEY, LIMITS.attributeKeyLength),
      op: v.picklist(REQUIREMENT_OPS, `must be one of ${REQUIREMENT_OPS.join(', ')}`),
      value: v.union([attributeValue, v.pipe(v.array(attributeValue, inValues), v.minLength(1, inValues), v.maxLength(LIMITS.inValues, inValues))], 'must be a number, a string, or an array of them'),
    },
    'must be an object',
  ),
  v.forward(v.check((r) => requirementValueProblem(r) === null, (issue) => requirementValueProblem(issue.input as Parameters<typeof requirementValueProblem>[0]) ?? ''), ['value']),
);

const tensorObject = v.strictObject(
  {
    name: text(128),
    dtype: v.picklist(TENSOR_DTYPES, `must be one of ${TENSOR_DTYPES.join(', ')}`),
    dims: v.pipe(v.array(integer(0, Number.MAX_SAFE_INTEGER), 'must be an array'), v.maxLength(8, 'must have at most 8 dimensions')),
    data: v.pipe(v.string('must be a string'), v.regex(/^[A-Za-z0-9_-]*$/, 'data must be base64url')),
  },
  'must be a tensor object',
);
/** A tensor as JSON: raw little-endian bytes in base64url, whose length must fit its dims and dtype. */
export const TensorSchema = v.pipe(
  tensorObject,
  v.check((t) => tensorProblem(t as WireTensor) === null, (issue) => tensorProblem(issue.input as WireTensor) ?? 'is not a tensor'),
);
/**
 * A job's input tensors (a bid's, an upload's). Their bytes are checked against their dims by the
 * edge, after the schema: against the model's interface when the model is known, so a mismatch is
 * answered with what the model expects (workers/routes/model-info.ts, domain/model-fit.ts).
 */
const tensors = v.pipe(
  v.array(tensorObject, 'must be an array'),
  v.minLength(1, 'must hold at least one tensor'),
  v.maxLength(API_LIMITS.tensors, `must hold at most ${API_LIMITS.tensors} tensors`),
);

// ---- request bodies ----------------------------------------------------------------------------

const askFields = {
  clientId,
  price: amount(),
  capacity: integer(LIMITS.capacity.min, LIMITS.capacity.max),
  attributes,
  expiresAt,
};

/** One ask of a batch (the market is the batch's). */
export const AskItemSchema = v.strictObject(askFields, 'must be an object');
/** POST /v1/asks: a provider lists capacity. */
export const PlaceAskSchema = v.strictObject({ market, ...askFields }, 'must be an object');
/** POST /v1/asks/batch: up to 100 asks in one market, one signature, one transaction. */
export const PlaceAskBatchSchema = v.strictObject(
  {
    market,
    asks: v.pipe(
      v.array(AskItemSchema, 'must be an array'),
      v.minLength(1, 'must hold at least one ask'),
      v.maxLength(API_LIMITS.batchAsks, `must have at most ${API_LIMITS.batchAsks} items`),
    ),
  },
  'must be an object',
);

/** The job of a bid: inputs inline (their digest and size derived) or uploaded before and named. */
export const JobSchema = v.strictObject(
  {
    modelSha256: sha256,
    inputSha256: v.optional(sha256),
    inputBytes: v.optional(integer(0, API_LIMITS.declaredInputBytes)),
    tolerance: v.optional(v.nullable(number(0, API_LIMITS.tolerance))),
    inputs: v.optional(tensors),
  },
  'must be an object',
);

/** POST /v1/bids: a buyer escrows funds and bids for a job. */
export const PlaceBidSchema = v.strictObject(
  {
    market,
    clientId,
    maxPrice: amount(),
    units: integer(LIMITS.units.min, LIMITS.units.max),
    replicas: integer(LIMITS.replicas.min, LIMITS.replicas.max),
    requirements: v.optional(v.pipe(v.array(RequirementSchema, 'must be an array'), v.maxLength(LIMITS.requirements, `must have at most ${LIMITS.requirements} items`)), []),
    expiresAt,
    ioc: v.optional(v.boolean('must be true or false'), false),
    job: JobSchema,
  },
  'must be an object',
);

/** POST /v1/deposits: a finalized transfer into custody, named by its signature. */
export const DepositSchema = v.strictObject(
  { signature: v.pipe(text(100), v.check((s: string) => isSignature(s), 'must be a base58 transaction signature (64 bytes)')) },
  'must be an object',
);

/** POST /v1/withdrawals: signed by the wallet itself. */
export const WithdrawalSchema = v.strictObject(
  {
    clientId,
    amount: amount(),
    destination: v.pipe(text(44), v.check((s: string) => isPublicKey(s), 'must be a base58 wallet address (32 bytes)')),
  },
  'must be an object',
);

/** POST /v1/faucet (local mode only). */
export const FaucetSchema = v.strictObject({ amount: amount(API_LIMITS.faucet) }, 'must be an object');

/** PUT /v1/inputs: a job's input tensors. */
export const InputsSchema = v.strictObject({ tensors }, 'must be an object');

/** Bodies that carry nothing: POST /v1/sessions/revoke, /v1/jobs/:id/challenge, /v1/jobs/:id/cancel, DELETE of orders. */
export const EmptySchema = v.strictObject({}, 'must be an object');

// ---- query parameters --------------------------------------------------------------------------

const ONCE = 'must be given once';
const queryInteger = (o: { min: number; max: number }) =>
  v.optional(v.pipe(v.string(ONCE), v.regex(/^-?[0-9]{1,16}$/, 'must be an integer'), v.transform(Number), v.minValue(o.min, between(o.min, o.max)), v.maxValue(o.max, between(o.min, o.max))));
const queryText = (max: number) => v.optional(v.pipe(v.string(ONCE), v.maxLength(max, `must be at most ${max} characters`)));
const publicKey = v.optional(v.pipe(v.string(ONCE), v.check((s) => isPublicKey(s), 'must be a base58 public key')));
const pageCursor = v.optional(v.pipe(v.string(ONCE), v.regex(/^o[0-9]{1,9}$/, 'is not a cursor from a previous page')));
const page = { cursor: pageCursor, limit: queryInteger(API_LIMITS.pageLimit) };

/** `cursor` and `limit` of read-model lists. */
export const PageQuerySchema = v.object(page);
/** GET /v1/asks and /v1/bids: filters over the offers read model. */
export const OrdersQuerySchema = v.strictObject(
  {
    market: queryText(32),
    owner: publicKey,
    status: v.optional(v.picklist(ORDER_STATUSES, `must be ${ORDER_STATUSES.slice(0, -1).join(', ')} or all`)),
    accelerator: queryText(64),
    region: queryText(64),
    minMemoryGb: v.optional(v.pipe(v.string(ONCE), v.regex(/^[0-9]{1,6}(\.[0-9]{1,3})?$/, 'must be a non-negative number'))),
    maxPrice: v.optional(v.pipe(v.string(ONCE), v.regex(DECIMAL_STRING, 'must be a decimal string of base units'), v.check((s) => parseAmount(s) !== null, 'must be a decimal string of base units'))),
    minCompleted: v.optional(v.pipe(v.string(ONCE), v.regex(/^[0-9]{1,9}$/, 'must be a non-negative integer'))),
    sort: v.optional(v.picklist(ORDER_SORTS, `must be one of ${ORDER_SORTS.join(', ')}`)),
    ...page,
  },
  'must be an object',
);
/** GET /v1/jobs?buyer=|provider= */
export const JobsQuerySchema = v.object({ buyer: publicKey, provider: publicKey, ...page });
/** GET /v1/jobs/:id/history and /v1/accounts/:key/ledger: events after a cursor. */
export const HistoryQuerySchema = v.strictObject(
  { cursor: v.optional(v.pipe(v.string(ONCE), v.regex(/^s[0-9]{1,12}$/, 'is not a cursor from a previous page'))), limit: queryInteger(API_LIMITS.historyLimit) },
  'must be an object',
);
/** PUT /v1/inputs?model=: the model the inputs are for; they must fit it (durable-objects/domain/model-fit.ts). */
export const InputsQuerySchema = v.strictObject({ model: v.optional(v.pipe(v.string(ONCE), v.regex(HEX64, 'must be 64 lowercase hex characters'))) }, 'must be an object');
/** GET /v1/markets/:market?depth= */
export const MarketQuerySchema = v.object({ depth: queryInteger(API_LIMITS.depth) });

// ---- types -------------------------------------------------------------------------------------

/** What a client sends (amounts as strings); the Worker works on the parsed output (amounts as bigints). */
export type PlaceAskBody = v.InferInput<typeof PlaceAskSchema>;
export type AskItem = v.InferInput<typeof AskItemSchema>;
export type PlaceAskBatchBody = v.InferInput<typeof PlaceAskBatchSchema>;
export type PlaceBidBody = v.InferInput<typeof PlaceBidSchema>;
export type JobBody = v.InferInput<typeof JobSchema>;
export type DepositBody = v.InferInput<typeof DepositSchema>;
export type WithdrawalBody = v.InferInput<typeof WithdrawalSchema>;
export type FaucetBody = v.InferInput<typeof FaucetSchema>;
export type InputsBody = v.InferInput<typeof InputsSchema>;
export type OrdersQuery = v.InferInput<typeof OrdersQuerySchema>;
/** POST /v1/sessions/revoke and the other bodies that carry nothing: `{}`. */
export type RevokeSessionBody = v.InferInput<typeof EmptySchema>;

// ---- parsing -----------------------------------------------------------------------------------

/** The outcome of a parse: the typed value, or the first problem and the field it is in. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; field: string; problem: string };

/** Parses input with a schema; a failure names the field (`job.inputs[0]`, `asks[3].price`) and the problem. */
export function parse<S extends v.GenericSchema>(schema: S, input: unknown): Parsed<v.InferOutput<S>> {
  const reserved = reservedKey(input, '');
  if (reserved !== null) return { ok: false, field: reserved, problem: 'is a reserved name' };
  const result = v.safeParse(schema, input, { abortEarly: true });
  if (result.success) return { ok: true, value: result.output };
  const issue = result.issues[0];
  return { ok: false, field: fieldOf(issue.path), problem: problemOf(issue) };
}

/** Ms since the epoch that lies after now and at most the longest TTL ahead, or the problem. */
export function expiryProblem(expiresAt: number, now: number): string | null {
  const max = now + API_LIMITS.maxTtlMs;
  return expiresAt > now && expiresAt <= max ? null : between(now + 1, max);
}

// Valibot's records skip these keys without a word; a body naming one is refused instead.
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** The path of the first own key with a reserved name anywhere in the input, or null. */
function reservedKey(value: unknown, path: string): string | null {
  if (value === null || typeof value !== 'object') return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = reservedKey(value[i], `${path}[${i}]`);
      if (found !== null) return found;
    }
    return null;
  }
  for (const key of Object.keys(value)) {
    const field = path ? `${path}.${key}` : key;
    if (RESERVED_KEYS.has(key)) return field;
    const found = reservedKey((value as Record<string, unknown>)[key], field);
    if (found !== null) return found;
  }
  return null;
}

function fieldOf(path: v.IssuePathItem[] | undefined): string {
  let field = '';
  for (const item of path ?? []) {
    const key = item.key as string | number;
    field += typeof key === 'number' ? `[${key}]` : field ? `.${key}` : key;
  }
  return field;
}

function problemOf(issue: v.BaseIssue<unknown>): string {
  // An object reports an unknown or a missing key with its own message; say which it is.
  if (issue.type === 'strict_object' || issue.type === 'object') {
    if (issue.expected === 'never') return 'is not a known field';
    if (issue.expected?.startsWith('"')) return 'is required';
  }
  return issue.message;
}

// ---- chat (OpenAI-compatible, under /v1) ---------------------------------------------------------

const chatText = v.pipe(v.string('must be a string'), v.maxLength(CHAT_RULES.maxMessageChars, `must be at most ${CHAT_RULES.maxMessageChars} characters`));
/** OpenAI's content: a string, or text parts (other part types are refused in words). */
const ChatContentSchema = v.union(
  [chatText, v.pipe(v.array(v.looseObject({ type: v.literal('text', 'only text parts are served'), text: chatText }, 'must be a text part'), 'must be an array'), v.maxLength(64, 'must have at most 64 parts'))],
  'must be a string or an array of text parts',
);

/** `POST /v1/chat/completions`, as OpenAI's clients send it (fields this service does not use pass unread; `n` must be 1). */
export const ChatCompletionSchema = v.looseObject(
  {
    model: v.pipe(v.string('must be a string'), v.minLength(1, 'must not be empty'), v.maxLength(96, 'must be at most 96 characters')),
    messages: v.pipe(
      v.array(v.looseObject({ role: v.picklist(['system', 'developer', 'user', 'assistant'], 'must be system, developer, user or assistant'), content: ChatContentSchema }, 'must be a message'), 'must be an array'),
      v.minLength(1, 'must not be empty'),
      v.maxLength(CHAT_RULES.maxMessages, `must have at most ${CHAT_RULES.maxMessages} messages`),
    ),
    stream: v.optional(v.nullable(v.boolean('must be a boolean'))),
    stream_options: v.optional(v.nullable(v.looseObject({ include_usage: v.optional(v.boolean('must be a boolean')) }, 'must be an object'))),
    max_tokens: v.optional(v.nullable(v.pipe(v.number('must be an integer'), v.safeInteger('must be an integer'), v.minValue(1, 'must be at least 1'), v.maxValue(1_048_576, 'is too large')))),
    max_completion_tokens: v.optional(v.nullable(v.pipe(v.number('must be an integer'), v.safeInteger('must be an integer'), v.minValue(1, 'must be at least 1'), v.maxValue(1_048_576, 'is too large')))),
    temperature: v.optional(v.nullable(v.pipe(v.number('must be a number'), v.minValue(0, 'must be between 0 and 2'), v.maxValue(2, 'must be between 0 and 2')))),
    top_p: v.optional(v.nullable(v.pipe(v.number('must be a number'), v.gtValue(0, 'must be above 0 and at most 1'), v.maxValue(1, 'must be above 0 and at most 1')))),
    seed: v.optional(v.nullable(v.pipe(v.number('must be an integer'), v.safeInteger('must be an integer')))),
    stop: v.optional(
      v.nullable(
        v.union(
          [
            v.pipe(v.string('must be a string'), v.minLength(1, 'must not be empty'), v.maxLength(CHAT_RULES.maxStopChars, `must be at most ${CHAT_RULES.maxStopChars} characters`)),
            v.pipe(v.array(v.pipe(v.string('must be a string'), v.minLength(1, 'must not be empty'), v.maxLength(CHAT_RULES.maxStopChars, `must be at most ${CHAT_RULES.maxStopChars} characters`)), 'must be an array'), v.maxLength(CHAT_RULES.maxStops, `must have at most ${CHAT_RULES.maxStops} items`)),
          ],
          'must be a string or an array of strings',
        ),
      ),
    ),
    n: v.optional(v.nullable(v.pipe(v.number('must be 1'), v.literal(1, 'must be 1: one choice per request is served')))),
  },
  'must be an object',
);
export type ChatCompletionBody = v.InferOutput<typeof ChatCompletionSchema>;

/**
 * `POST /v1/api-keys`: an API key for the chat API. The client makes the secret and sends only its
 * SHA-256 (the server never sees the secret); the key is `apiKeyText` of wallet, id and secret.
 */
export const CreateApiKeySchema = v.strictObject(
  {
    id: matching(API_KEY_ID, 32),
    name: text(64),
    secretSha256: sha256,
    limit: amount(),
    expiresAt,
  },
  'must be an object',
);
