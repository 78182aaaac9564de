import { expect } from 'vitest';
import { RpcError } from '../local-chain/errors.ts';

/** A program's refusal: the transaction fails with the IDL's error code for `name`. */
export async function refusedWith(attempt: Promise<unknown>, errors: readonly (readonly [number, string, string])[], name: string): Promise<void> {
  const code = errors.find(([, n]) => n === name)?.[0];
  if (code === undefined) throw new Error(`no error named ${name}`);
  const error = await attempt.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error, `expected ${name}`).toBeInstanceOf(RpcError);
  expect((error as Error).message).toContain(`custom program error: 0x${code.toString(16)}`);
}
