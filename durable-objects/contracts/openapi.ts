import type { GenericSchema } from 'valibot';
import { toJsonSchema } from '@valibot/to-json-schema';
import { ROUTES } from './api.ts';
import { AUTH_HEADERS as HEADERS, type SigningScope } from './auth.ts';
import {
  DepositSchema,
  EmptySchema,
  FaucetSchema,
  HistoryQuerySchema,
  InputsQuerySchema,
  InputsSchema,
  JobsQuerySchema,
  MarketQuerySchema,
  OrdersQuerySchema,
  PageQuerySchema,
  PlaceAskBatchSchema,
  PlaceAskSchema,
  PlaceBidSchema,
  WithdrawalSchema,
  ChatCompletionSchema,
  CreateApiKeySchema,
} from './schemas.ts';

/** How one route is described: what it does, what it takes, whether it is signed, what it answers. */
interface Operation {
  summary: string;
  body?: GenericSchema | 'bytes';
  query?: GenericSchema;
  /** Signed, and what the signer must be allowed (workers/routes/common.ts `signed` takes it from here). */
  signed?: SigningScope;
  /** Authorised by an API key sent as `Authorization: Bearer …` (the chat API), not signed. */
  bearer?: boolean;
  /** The status of success (200 unless said). */
  status?: number;
  /** The answer is bytes, not JSON. */
  bytes?: boolean;
}

const OPERATIONS: Record<keyof typeof ROUTES, Operation> = {
  health: { summary: 'Liveness' },
  openapi: { summary: 'This document (OpenAPI 3.1)' },
  markets: { summary: 'Every market: best bid and ask, last price, 24 h volume, open orders, providers', query: PageQuerySchema },
  market: { summary: 'A market summary and its live book depth per price level', query: MarketQuerySchema },
  trades: { summary: 'Recent fills of a market', query: PageQuerySchema },
  agentSocket: { summary: "An agent's WebSocket (protocol in durable-objects/contracts/agent.ts)", status: 101 },
  asks: { summary: 'Offers, filtered and sorted', query: OrdersQuerySchema },
  placeAsk: { summary: 'A provider lists capacity', body: PlaceAskSchema, signed: 'asks', status: 201 },
  placeAskBatch: { summary: 'Up to 100 asks in one market, one transaction; an outcome per ask', body: PlaceAskBatchSchema, signed: 'asks' },
  cancelAsk: { summary: 'The owner cancels an ask', signed: 'asks' },
  bids: { summary: 'Bids, filtered and sorted', query: OrdersQuerySchema },
  placeBid: { summary: 'A buyer escrows maxPrice × units × replicas and bids for a job', body: PlaceBidSchema, signed: 'orders', status: 201 },
  cancelBid: { summary: 'The owner cancels a bid; its escrow is released', signed: 'orders' },
  jobs: { summary: 'Jobs from the read model', query: JobsQuerySchema },
  job: { summary: "A job's live state (the job id is its bid id)" },
  jobHistory: { summary: "The job's events (digests and sizes, never payloads)", query: HistoryQuerySchema },
  jobResult: { summary: 'The verified outputs, for the buyer', signed: 'orders' },
  challengeJob: { summary: 'The buyer disputes a single-replica result inside its window', body: EmptySchema, signed: 'orders' },
  cancelJob: { summary: 'The buyer cancels a job before any result; refunded in full', body: EmptySchema, signed: 'orders' },
  uploadModel: { summary: 'Stores ONNX model bytes under their SHA-256', body: 'bytes', signed: 'orders', status: 201 },
  model: { summary: 'A model, for agents', bytes: true },
  modelInfo: { summary: "The model's inputs and outputs: name, dtype, dims (a symbolic dim by its name, an open one as null)" },
  uploadInputs: { summary: "Stores a job's input tensors under the digest of their canonical encoding; with ?model=, only if they fit that model", body: InputsSchema, query: InputsQuerySchema, signed: 'orders', status: 201 },
  account: { summary: 'Balance: available, held, credited, payouts, holds' },
  holds: { summary: "The account's holds", query: PageQuerySchema },
  ledger: { summary: "The account's events", query: HistoryQuerySchema },
  audit: { summary: 'Conservation of funds over all accounts (and custody, with a chain)' },
  integrity: { summary: "Local mode only: an object's event log checked against itself: its live state hash and the hash of a replay from zero (kind: market, job, account, withdrawal, placement, settlement)" },
  faucet: { summary: 'Local mode only: mints (with a chain) or credits $DOUG to the signer', body: FaucetSchema, signed: 'owner', status: 201 },
  deposit: { summary: 'Credits a finalized transfer into custody to the account its memo names', body: DepositSchema, signed: 'orders', status: 201 },
  escrowExit: { summary: "Follows a buyer's own withdrawal from their escrow (after the timelock): the ledger takes what left the vault", body: DepositSchema, signed: 'orders', status: 201 },
  chain: { summary: 'Where $DOUG lives and where deposits go' },
  revokeSession: { summary: 'Revokes the signing session key for good', body: EmptySchema, signed: 'delegated' },
  createApiKey: { summary: 'Creates an API key for the chat API (the client makes the secret and sends only its SHA-256): scoped to chat, with a spending limit and an expiry', body: CreateApiKeySchema, signed: 'orders', status: 201 },
  apiKeys: { summary: "The caller's API keys (never their secrets)", signed: 'orders' },
  revokeApiKey: { summary: 'Revokes an API key for good', signed: 'orders' },
  chatModels: { summary: 'OpenAI-compatible: the chat models a route of connected agents can serve now (each with its routes: market, manifest, stages, holders per stage)' },
  chatFaults: { summary: 'Chat holders a verification found at fault (out of routing), with where the slash of their providers stands on chain: agent keys, stages and digests only' },
  chatCompletions: {
    summary:
      'OpenAI-compatible chat completion over a route of agents, each holding a range of the model\'s layers (streamed as server-sent events with stream: true). The agents on the route see the activations of the conversation (not its text); prompts and completions are never written to a durable log',
    body: ChatCompletionSchema,
    bearer: true,
  },
  requestWithdrawal: { summary: 'Takes an amount from the ledger and pays it to a wallet on chain', body: WithdrawalSchema, signed: 'owner', status: 202 },
  withdrawal: { summary: 'A withdrawal: status, amount, destination, attempts, outcome' },
  withdrawals: { summary: "The account's withdrawals, newest first", query: PageQuerySchema },
};

/** What a signed route's signer must be allowed; null for a route that is not signed. */
export function routeScope(id: keyof typeof ROUTES): SigningScope | null {
  return OPERATIONS[id].signed ?? null;
}

/**
 * The query parameters a route takes (its schema's keys; none without a schema). The Worker refuses
 * any other parameter on every route, so the document and the edge cannot disagree.
 */
export function routeQueryParameters(id: keyof typeof ROUTES): readonly string[] {
  const query = OPERATIONS[id].query as (GenericSchema & { entries?: Record<string, unknown> }) | undefined;
  return query?.entries ? Object.keys(query.entries) : [];
}

type Json = Record<string, unknown>;

const jsonSchema = (schema: GenericSchema): Json =>
  // Input types (what a client sends); checks JSON Schema cannot say (a digest, a base58 key) are left out.
  toJsonSchema(schema, { target: 'draft-2020-12', typeMode: 'input', errorMode: 'ignore' }) as Json;

/** Path parameters as OpenAPI writes them: `/v1/jobs/:id` → `/v1/jobs/{id}`. */
export const openApiPath = (path: string): string => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

function parameters(path: string, query: GenericSchema | undefined): Json[] {
  const params: Json[] = [...path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
  if (query) {
    const { properties = {}, required = [] } = jsonSchema(query) as { properties?: Record<string, Json>; required?: string[] };
    for (const [name, schema] of Object.entries(properties)) params.push({ name, in: 'query', required: required.includes(name), schema });
  }
  return params;
}

function operation(id: string, op: Operation, path: string): Json {
  const out: Json = { operationId: id, summary: op.summary };
  const params = parameters(path, op.query);
  if (params.length > 0) out.parameters = params;
  if (op.body === 'bytes') out.requestBody = { required: true, content: { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } } };
  else if (op.body) out.requestBody = { required: true, content: { 'application/json': { schema: jsonSchema(op.body) } } };
  const success = op.status ?? 200;
  const content = op.bytes
    ? { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } }
    : { 'application/json': { schema: { type: 'object' } } };
  out.responses = {
    [String(success)]: success === 101 ? { description: 'Switching to the WebSocket protocol' } : { description: 'Success', content },
    '4XX': { $ref: '#/components/responses/Error' },
  };
  if (op.signed) {
    out.security = [{ key: [], timestamp: [], nonce: [], signature: [] }, { key: [], timestamp: [], nonce: [], signature: [], delegation: [] }];
    out['x-doug-scope'] = op.signed;
  }
  if (op.bearer) out.security = [{ apiKey: [] }];
  return out;
}

/** The OpenAPI 3.1 document of the HTTP API, derived from the route list and the request schemas. */
export function openApiDocument(serverUrl = '/'): Json {
  const paths: Record<string, Json> = {};
  for (const [id, route] of Object.entries(ROUTES) as [keyof typeof ROUTES, string][]) {
    const [method, path] = route.split(' ') as [string, string];
    (paths[openApiPath(path)] ??= {})[method.toLowerCase()] = operation(id, OPERATIONS[id], path);
  }
  const header = (name: string, description: string) => ({ type: 'apiKey', in: 'header', name, description });
  return {
    openapi: '3.1.0',
    info: {
      title: 'DougAI marketplace API',
      version: '1',
      description: 'Amounts are decimal strings of base units (1 DOUG = 10^9). Signed requests carry an ed25519 signature over `DOUG-REQUEST-V1\\nMETHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nSHA256HEX(BODY)` (durable-objects/contracts/auth.ts).',
    },
    servers: [{ url: serverUrl }],
    paths,
    components: {
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message', 'context'],
              properties: { code: { type: 'string', description: 'A stable code, namespaced by area (API__INVALID_INPUT)' }, message: { type: 'string' }, context: { type: 'object' } },
            },
          },
        },
      },
      responses: { Error: { description: 'A coded refusal', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } } },
      securitySchemes: {
        key: header(HEADERS.key, 'The signing key (base58 ed25519 public key)'),
        timestamp: header(HEADERS.timestamp, 'Ms since the epoch, within ±60 s'),
        nonce: header(HEADERS.nonce, '8-64 of [A-Za-z0-9_-], never reused per key'),
        signature: header(HEADERS.signature, 'base58 ed25519 signature of the canonical request'),
        delegation: header(HEADERS.delegation, "A wallet's delegation to the signing key (base64url JSON)"),
        apiKey: { type: 'http', scheme: 'bearer', description: 'An API key of a wallet (POST /v1/api-keys): sk-doug_<wallet>_<id>_<secret>' },
      },
    },
  };
}
