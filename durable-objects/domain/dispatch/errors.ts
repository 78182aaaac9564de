import { defineErrors } from '../define-errors.ts';

/** Rejections of the dispatch decider (the agent protocol's AGENT__ namespace). Append-only. */
export const DISPATCH_ERRORS = defineErrors({
  AGENT__NOT_AUTHENTICATED: 'send hello first',
  AGENT__MALFORMED_MESSAGE: '{problem}',
  AGENT__LEASE_UNKNOWN: 'lease {leaseId} is not held by this agent',
  AGENT__RESULT_TOO_LARGE: 'outputs hold {bytes} bytes; the limit is {limit}',
});
