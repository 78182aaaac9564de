import { defineErrors } from '../define-errors.ts';

/** Rejections of the market decider (namespace MARKET__). Append-only. */
export const MARKET_ERRORS = defineErrors({
});
