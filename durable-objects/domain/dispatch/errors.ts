import { defineErrors } from '../define-errors.ts';

/** Rejections of the dispatch decider (the agent protocol's AGENT__ namespace). Append-only. */
export const DISPATCH_ERRORS = defineErrors({
  AGENT__NOT_AUTHENTICATED: 'send hello first',
  AGENT__MALFORMED_MESSAGE: '{problem}',
  AGENT__LEASE_UNKNOWN: 'lease {leaseId} is not held by this agent',
  AGENT__RESULT_TOO_LARGE: 'outputs hold {bytes} bytes; the limit is {limit}',
  AGENT__FRAME_TOO_LARGE: 'a frame of {bytes} bytes; the limit is {limit}: the socket is closed',
  AGENT__HELLO_TIMEOUT: 'no hello within {ms} ms of the challenge: the socket is closed',
  AGENT__TOO_MANY_PENDING: '{count} sockets are waiting to say hello to this market; try again shortly',
  AGENT__RATE_LIMITED: 'more than {perSecond} messages a second (bursts of {burst}): messages past it are dropped',
});
