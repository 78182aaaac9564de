import { defineErrors, makeError } from '../../../durable-objects/domain/define-errors.ts';
import type { AgentErrorMessage } from '../../../durable-objects/contracts/agent.ts';

/** Errors of the agent's execution half: model cache and runner. Codes are append-only. */
export const AGENT_EXEC_ERRORS = defineErrors({
  AGENT__MODEL_HASH_MISMATCH: 'model {expected} arrived with SHA-256 {actual}; refused',
  AGENT__MODEL_TOO_LARGE: 'model {sha256} is {bytes} bytes; the limit is {limit}',
  AGENT__MODEL_UNAVAILABLE: 'model {sha256} is unavailable: {reason}',
  AGENT__RUN_FAILED: 'run of model {sha256} failed: {reason}',
});

export type AgentExecErrorCode = keyof typeof AGENT_EXEC_ERRORS;

/** A coded error thrown inside the agent process (it never crosses an object boundary). */
export class AgentExecError extends Error {
  override readonly name = 'AgentExecError';
  constructor(
    readonly code: AgentExecErrorCode,
    readonly context: Record<string, unknown> = {},
  ) {
    super(makeError(AGENT_EXEC_ERRORS, code, context).message);
  }
}

/** True when `e` is an AgentExecError, optionally of one code. */
export function isAgentExecError(e: unknown, code?: AgentExecErrorCode): e is AgentExecError {
  return e instanceof AgentExecError && (code === undefined || e.code === code);
}

/** The protocol's error code for any failure of a job (AGENT__MODEL_TOO_LARGE travels as unavailable). */
export function protocolErrorCode(e: unknown): AgentErrorMessage['code'] {
  if (!(e instanceof AgentExecError)) return 'AGENT__RUN_FAILED';
  return e.code === 'AGENT__MODEL_TOO_LARGE' ? 'AGENT__MODEL_UNAVAILABLE' : e.code;
}
