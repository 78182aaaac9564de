import { defineErrors } from '../define-errors.ts';

/** Rejections of the account decider (namespace ACCOUNT__). Append-only. */
export const ACCOUNT_ERRORS = defineErrors({
});
