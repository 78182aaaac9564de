import { defineErrors } from '../define-errors.ts';

/** Rejections of the market decider (namespace MARKET__). Append-only. */
export const MARKET_ERRORS = defineErrors({
  MARKET__ORDER_EXISTS: 'an order with id {orderId} already exists in this market',
  MARKET__ORDER_NOT_FOUND: 'there is no order {orderId} in this market',
  MARKET__NOT_ORDER_OWNER: '{actor} does not own order {orderId}',
  MARKET__ORDER_CLOSED: 'order {orderId} is already {status}',
  MARKET__NOT_AN_ASK: 'order {orderId} is a bid; slots belong to asks',
  MARKET__INVALID_ORDER_ID: '{field} must be a non-empty string of at most {max} characters',
  MARKET__INVALID_OWNER: '{field} must be a non-empty string of at most {max} characters',
  MARKET__PRICE_NOT_POSITIVE: '{field} must be a positive bigint amount, got {value}',
  MARKET__PRICE_TOO_LARGE: '{field} {value} exceeds the largest amount {max}',
  MARKET__CAPACITY_OUT_OF_RANGE: 'capacity must be an integer from {min} to {max}, got {value}',
  MARKET__TOO_MANY_ATTRIBUTES: 'an ask may have at most {max} attributes, got {count}',
  MARKET__INVALID_ATTRIBUTE: 'attribute {key}: {problem}',
  MARKET__EXPIRY_NOT_IN_FUTURE: 'expiresAt must be an integer time after now ({now}), got {expiresAt}',
  MARKET__UNITS_OUT_OF_RANGE: 'units must be an integer from {min} to {max}, got {value}',
  MARKET__REPLICAS_OUT_OF_RANGE: 'replicas must be an integer from {min} to {max}, got {value}',
  MARKET__TOO_MANY_REQUIREMENTS: 'at most {max} requirements are allowed, got {count}',
  MARKET__INVALID_REQUIREMENT: 'requirement {index}: {problem}',
  MARKET__ESCROW_OVERFLOW: 'maxPrice x units x replicas = {escrow} exceeds the largest amount {max}',
  MARKET__INVALID_SPEC: 'spec.{field}: {problem}',
  MARKET__INVALID_IOC: 'ioc must be a boolean',
  MARKET__INVALID_REPLICA_INDEX: 'replica must be an integer from {min} to {max}, got {value}',
  MARKET__INVALID_EXCLUSIONS: 'excludeProviders: {problem}',
  MARKET__INVALID_JOB_ID: 'jobId must be a non-empty string of at most {max} characters',
  MARKET__NOT_SYSTEM: 'only the system may {action}; {actor} may not',
  MARKET__INVALID_PARAMS: 'params.{field} must be an integer from {min} to {max}, got {value}',
  MARKET__UNKNOWN_COMMAND: 'the market does not understand command {type}',
  MARKET__TOO_MANY_OPEN_BIDS: 'this key has {limit} bids open in this market, the most it may: cancel one, or wait for one to match or expire',
});

export type MarketErrorCode = keyof typeof MARKET_ERRORS;
