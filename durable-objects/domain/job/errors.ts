import { defineErrors } from '../define-errors.ts';

/** Rejections of the job decider (namespace JOB__). Append-only. */
export const JOB_ERRORS = defineErrors({
});
