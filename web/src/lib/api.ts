import { DougApiError, DougClient } from '$sdk/client.ts';

/** The API lives on the portal's own origin (the Worker serves both). */
export function apiBase(): string {
  return globalThis.location?.origin ?? 'http://127.0.0.1:8787';
}

/** An unsigned client for reads. Signed requests go through `session.client` (see session.svelte.ts). */
export const api = new DougClient({ baseUrl: apiBase() });

/** What the portal shows for a failure: the registry code and its message. */
export interface ShownError {
  code: string;
  message: string;
  context: Record<string, unknown>;
}

export function shownError(err: unknown): ShownError {
  if (err instanceof DougApiError) return { code: err.code, message: err.message, context: err.context };
  if (err instanceof Error) return { code: 'PORTAL__UNEXPECTED', message: err.message, context: {} };
  return { code: 'PORTAL__UNEXPECTED', message: String(err), context: {} };
}

export { DougApiError };
