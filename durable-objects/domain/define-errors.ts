import type { DomainError } from './result.ts';

/**
 * Builds a typed error table: code -> message template. Templates name context fields in braces
 * ("order {orderId} not found"). Codes are append-only: never rename or reuse one.
 */
export function defineErrors<const T extends Record<string, string>>(table: T): T {
  return table;
}

/** Makes a coded error from a table, filling the message template from the context. */
export function makeError<T extends Record<string, string>>(
  table: T,
  code: keyof T & string,
  context: Record<string, unknown> = {},
): DomainError {
  const template = table[code] ?? code;
  const message = template.replace(/\{(\w+)\}/g, (_m, key: string) => {
    const v = context[key];
    return v === undefined ? `{${key}}` : typeof v === 'bigint' ? v.toString() : String(v);
  });
  return { code, message, context };
}
