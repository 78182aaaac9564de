import type { GenericSchema, InferOutput } from 'valibot';
import { parse } from '../durable-objects/contracts/schemas.ts';
import { refuse } from './http.ts';

/**
 * The input parsed by its schema (durable-objects/contracts/schemas.ts), or API__INVALID_INPUT naming
 * the field and the problem. Unknown fields are refused, so a typo never silently drops an intent.
 */
export function valid<S extends GenericSchema>(schema: S, input: unknown): InferOutput<S> {
  const parsed = parse(schema, input);
  if (!parsed.ok) return refuse('API__INVALID_INPUT', { field: parsed.field, problem: parsed.problem });
  return parsed.value;
}
