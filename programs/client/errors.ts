import { CUSTODY_ERRORS } from '../../durable-objects/domain/custody/errors.ts';
import { makeError } from '../../durable-objects/domain/define-errors.ts';
import type { DomainError } from '../../durable-objects/domain/result.ts';
import { SolanaRpcError } from './rpc.ts';

/*
 * The coded errors this library throws. The codes are registered once, in the custody namespace of
 * the domain's registry (domain/custody/errors.ts), and the Worker maps them to HTTP statuses as it
 * maps its own refusals: NOT_CONFIGURED 409, CHAIN_UNAVAILABLE 503, CHAIN_REFUSED 502.
 */

/** The codes a ChainFailure carries. */
export type ChainFailureCode = 'CUSTODY__NOT_CONFIGURED' | 'CUSTODY__CHAIN_UNAVAILABLE' | 'CUSTODY__CHAIN_REFUSED';

/** A coded failure of the chain or of its configuration; `error` is the registry's coded error. */
export class ChainFailure extends Error {
  constructor(readonly error: DomainError) {
    super(`${error.code}: ${error.message}`);
    this.name = 'ChainFailure';
  }
}

/** A ChainFailure with `code`'s message filled from `context`. */
export function chainFailure(code: ChainFailureCode, context: Record<string, unknown> = {}): ChainFailure {
  return new ChainFailure(makeError(CUSTODY_ERRORS, code, context));
}

/**
 * Runs an RPC step, turning "no answer" into CUSTODY__CHAIN_UNAVAILABLE (503, retry) and a node's
 * JSON-RPC error into CUSTODY__CHAIN_REFUSED (502): neither is the client's fault.
 */
export async function onChain<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (!(err instanceof SolanaRpcError)) throw err;
    if (err.kind === 'rpc' || err.kind === 'malformed') throw chainFailure('CUSTODY__CHAIN_REFUSED', { method: err.method, problem: err.message, code: err.code });
    throw chainFailure('CUSTODY__CHAIN_UNAVAILABLE', { method: err.method, problem: err.message, kind: err.kind });
  }
}
