import { makeError } from '../define-errors.ts';
import { MAX_AMOUNT } from '../money.ts';
import type { DomainError } from '../result.ts';
import type { PlaceAsk, PlaceBid, PlaceReplicaBid, Requirement } from './commands.ts';
import { MARKET_ERRORS, type MarketErrorCode } from './errors.ts';
import { BIGINT_FIELDS } from './events.ts';

/** Field limits of the market. */
export const LIMITS = {
  idLength: 128,
  capacity: { min: 1, max: 1024 },
  attributes: 16,
  attributeKeyLength: 64,
  attributeStringLength: 256,
  units: { min: 1, max: 1_000_000 },
  replicas: { min: 1, max: 5 },
  requirements: 16,
  inValues: 16,
  /** Replica index of a replica bid: the job's replicas plus tie-breakers. */
  replicaIndex: { min: 0, max: 15 },
  excludeProviders: 64,
  /**
   * Most bids one key may have open in one market: each holds escrow and a place in the book, and
   * a flood of them from one key (2,000 were once accepted) slowed every other key's requests.
   */
  openBidsPerOwner: 500,
} as const;

const OPS = new Set(['eq', 'neq', 'gte', 'lte', 'in']);
const SPEC_HASHES = ['modelSha256', 'inputSha256'] as const;

/**
 * The last two digests found valid (one per spec field, in the common case). Bids of one model and
 * one input set repeat the same digests, and comparing a string with the one checked before (the
 * same string object: a pointer comparison; an equal copy: a compare that stops at the first
 * differing character) replaces the character loop below, which was a twentieth of a bid's
 * decision. A digest found valid once is valid for good: strings are immutable.
 */
let validHex0 = '';
let validHex1 = '';

/** 64 lowercase hex characters (a SHA-256 in hex): a character loop, as a regex cost a tenth of a bid's decision. */
function isSha256Hex(v: unknown): boolean {
  if (typeof v !== 'string' || v.length !== 64) return false;
  if (v === validHex0 || v === validHex1) return true;
  for (let i = 0; i < 64; i++) {
    const c = v.charCodeAt(i);
    // '0'-'9' or 'a'-'f', each range tested with one unsigned comparison.
    if ((c - 48) >>> 0 > 9 && (c - 97) >>> 0 > 5) return false;
  }
  validHex1 = validHex0;
  validHex0 = v;
  return true;
}

const err = (code: MarketErrorCode, context: Record<string, unknown> = {}): DomainError =>
  makeError(MARKET_ERRORS, code, context);

/** The coded market rejection for this code and context. */
export const marketError = err;

const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= LIMITS.idLength;
const isAttrValue = (v: unknown): v is string | number =>
  (typeof v === 'string' && v.length <= LIMITS.attributeStringLength) || (typeof v === 'number' && Number.isFinite(v));

function checkId(field: string, v: unknown): DomainError | null {
  return isId(v) ? null : err('MARKET__INVALID_ORDER_ID', { field, max: LIMITS.idLength });
}

function checkOwner(field: string, v: unknown): DomainError | null {
  return isId(v) ? null : err('MARKET__INVALID_OWNER', { field, max: LIMITS.idLength });
}

function checkPrice(field: string, v: unknown): DomainError | null {
  if (typeof v !== 'bigint' || v <= 0n) return err('MARKET__PRICE_NOT_POSITIVE', { field, value: String(v) });
  if (v > MAX_AMOUNT) return err('MARKET__PRICE_TOO_LARGE', { field, value: v, max: MAX_AMOUNT });
  return null;
}

function checkExpiry(expiresAt: unknown, now: number): DomainError | null {
  return typeof expiresAt === 'number' && Number.isSafeInteger(expiresAt) && expiresAt > now
    ? null
    : err('MARKET__EXPIRY_NOT_IN_FUTURE', { expiresAt, now });
}

function checkUnits(v: unknown): DomainError | null {
  return Number.isInteger(v) && (v as number) >= LIMITS.units.min && (v as number) <= LIMITS.units.max
    ? null
    : err('MARKET__UNITS_OUT_OF_RANGE', { value: v, ...LIMITS.units });
}

function checkRequirements(reqs: unknown): DomainError | null {
  if (!Array.isArray(reqs)) return err('MARKET__INVALID_REQUIREMENT', { index: -1, problem: 'requirements must be an array' });
  if (reqs.length > LIMITS.requirements) return err('MARKET__TOO_MANY_REQUIREMENTS', { max: LIMITS.requirements, count: reqs.length });
  for (let index = 0; index < reqs.length; index++) {
    const r = reqs[index] as Partial<Requirement> | null;
    const bad = (problem: string) => err('MARKET__INVALID_REQUIREMENT', { index, problem });
    if (r === null || typeof r !== 'object') return bad('must be an object');
    if (typeof r.key !== 'string' || r.key.length === 0 || r.key.length > LIMITS.attributeKeyLength)
      return bad(`key must be a string of 1 to ${LIMITS.attributeKeyLength} characters`);
    if (typeof r.op !== 'string' || !OPS.has(r.op)) return bad(`op must be one of ${[...OPS].join(', ')}`);
    const v = r.value;
    if (r.op === 'in') {
      if (!Array.isArray(v) || v.length === 0 || v.length > LIMITS.inValues || !v.every(isAttrValue))
        return bad(`'in' takes 1 to ${LIMITS.inValues} strings or numbers`);
    } else if (r.op === 'gte' || r.op === 'lte') {
      if (typeof v !== 'number' || !Number.isFinite(v)) return bad(`'${r.op}' takes a finite number`);
    } else if (!isAttrValue(v)) {
      return bad(`'${r.op}' takes a string or a finite number`);
    }
  }
  return null;
}

/** Field errors of a PlaceAsk (not the duplicate check, which needs the book). */
export function validateAsk(c: PlaceAsk, now: number): DomainError | null {
  const e = checkId('askId', c.askId) ?? checkOwner('owner', c.owner) ?? checkPrice('price', c.price);
  if (e) return e;
  if (!Number.isInteger(c.capacity) || c.capacity < LIMITS.capacity.min || c.capacity > LIMITS.capacity.max)
    return err('MARKET__CAPACITY_OUT_OF_RANGE', { value: c.capacity, ...LIMITS.capacity });
  const attrs = c.attributes as unknown;
  if (attrs === null || typeof attrs !== 'object' || Array.isArray(attrs))
    return err('MARKET__INVALID_ATTRIBUTE', { key: '*', problem: 'attributes must be an object' });
  const keys = Object.keys(attrs);
  if (keys.length > LIMITS.attributes) return err('MARKET__TOO_MANY_ATTRIBUTES', { max: LIMITS.attributes, count: keys.length });
  for (const key of keys) {
    if (key.length === 0 || key.length > LIMITS.attributeKeyLength)
      return err('MARKET__INVALID_ATTRIBUTE', { key, problem: `name must have 1 to ${LIMITS.attributeKeyLength} characters` });
    // Names that the JSON reviver turns into bigints, or that collide with Object's own, are reserved.
    if (BIGINT_FIELDS.has(key) || key === '__proto__')
      return err('MARKET__INVALID_ATTRIBUTE', { key, problem: 'this name is reserved' });
    if (!isAttrValue((attrs as Record<string, unknown>)[key]))
      return err('MARKET__INVALID_ATTRIBUTE', { key, problem: `value must be a finite number or a string of at most ${LIMITS.attributeStringLength} characters` });
  }
  return checkExpiry(c.expiresAt, now);
}

/** Field errors of a PlaceBid (not the duplicate check). */
export function validateBid(c: PlaceBid, now: number): DomainError | null {
  const e = checkId('bidId', c.bidId) ?? checkOwner('owner', c.owner) ?? checkPrice('maxPrice', c.maxPrice) ?? checkUnits(c.units);
  if (e) return e;
  if (!Number.isInteger(c.replicas) || c.replicas < LIMITS.replicas.min || c.replicas > LIMITS.replicas.max)
    return err('MARKET__REPLICAS_OUT_OF_RANGE', { value: c.replicas, ...LIMITS.replicas });
  const r = checkRequirements(c.requirements) ?? checkExpiry(c.expiresAt, now);
  if (r) return r;
  if (typeof c.ioc !== 'boolean') return err('MARKET__INVALID_IOC');
  const spec = c.spec as unknown as Record<string, unknown> | null;
  if (spec === null || typeof spec !== 'object') return err('MARKET__INVALID_SPEC', { field: '*', problem: 'spec must be an object' });
  for (const field of SPEC_HASHES) {
    if (!isSha256Hex(spec[field])) return err('MARKET__INVALID_SPEC', { field, problem: 'must be 64 lowercase hex characters' });
  }
  if (!Number.isSafeInteger(spec.inputBytes) || (spec.inputBytes as number) < 0)
    return err('MARKET__INVALID_SPEC', { field: 'inputBytes', problem: 'must be a non-negative integer' });
  const tol = spec.tolerance;
  if (tol !== null && (typeof tol !== 'number' || !Number.isFinite(tol) || tol < 0))
    return err('MARKET__INVALID_SPEC', { field: 'tolerance', problem: 'must be null or a non-negative number' });
  // Below ESCROW_SAFE_PRICE no units and replicas within LIMITS can overflow: no bigint arithmetic.
  if (c.maxPrice <= ESCROW_SAFE_PRICE) return null;
  const escrow = bidEscrow(c);
  if (escrow > MAX_AMOUNT) return err('MARKET__ESCROW_OVERFLOW', { escrow, max: MAX_AMOUNT });
  return null;
}

/** The highest maxPrice whose escrow stays within MAX_AMOUNT at the most units and replicas LIMITS allow. */
const ESCROW_SAFE_PRICE = MAX_AMOUNT / BigInt(LIMITS.units.max * LIMITS.replicas.max);

/** What a bid holds while it waits: its ceiling for every unit of every replica. */
export function bidEscrow(c: { maxPrice: bigint; units: number; replicas: number }): bigint {
  return c.maxPrice * BigInt(c.units) * BigInt(c.replicas);
}

/** Field errors of a PlaceReplicaBid. */
export function validateReplicaBid(c: PlaceReplicaBid, now: number): DomainError | null {
  if (!isId(c.jobId)) return err('MARKET__INVALID_JOB_ID', { max: LIMITS.idLength });
  if (!Number.isInteger(c.replica) || c.replica < LIMITS.replicaIndex.min || c.replica > LIMITS.replicaIndex.max)
    return err('MARKET__INVALID_REPLICA_INDEX', { value: c.replica, ...LIMITS.replicaIndex });
  const e = checkOwner('buyer', c.buyer) ?? checkPrice('maxPrice', c.maxPrice) ?? checkUnits(c.units) ?? checkRequirements(c.requirements);
  if (e) return e;
  const ex = c.excludeProviders as unknown;
  if (!Array.isArray(ex) || ex.length > LIMITS.excludeProviders || !ex.every(isId))
    return err('MARKET__INVALID_EXCLUSIONS', { problem: `must be an array of at most ${LIMITS.excludeProviders} provider keys` });
  const x = checkExpiry(c.expiresAt, now);
  if (x) return x;
  const cost = c.maxPrice * BigInt(c.units);
  if (cost > MAX_AMOUNT) return err('MARKET__ESCROW_OVERFLOW', { escrow: cost, max: MAX_AMOUNT });
  return null;
}

/** True when the attributes satisfy every requirement. A missing attribute satisfies nothing, not even neq. */
export function satisfies(attributes: Record<string, string | number>, requirements: readonly Requirement[]): boolean {
  for (let i = 0; i < requirements.length; i++) {
    const r = requirements[i]!;
    if (!Object.hasOwn(attributes, r.key)) return false;
    const a = attributes[r.key]!;
    const v = r.value;
    switch (r.op) {
      case 'eq':
        if (a !== v) return false;
        break;
      case 'neq':
        if (a === v) return false;
        break;
      case 'gte':
        if (typeof a !== 'number' || a < (v as number)) return false;
        break;
      case 'lte':
        if (typeof a !== 'number' || a > (v as number)) return false;
        break;
      case 'in':
        if (!(v as (string | number)[]).includes(a)) return false;
        break;
    }
  }
  return true;
}
