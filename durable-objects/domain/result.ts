/** Outcome of a decision: events on success, a coded rejection otherwise. Rejections are values, never throws. */
export type Result<T, E = DomainError> = { ok: true; value: T } | { ok: false; error: E };

/** A business rejection: a stable code from the registry, a human message, and typed context. */
export interface DomainError {
  code: string;
  message: string;
  context: Record<string, unknown>;
}

export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
export const fail = (error: DomainError): { ok: false; error: DomainError } => ({ ok: false, error });
