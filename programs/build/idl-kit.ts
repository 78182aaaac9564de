/**
 * The conventions every program's Codama IDL follows, in one place: the first byte of an
 * instruction's data is its number and the first byte of an account its kind (both u8 discriminator
 * fields the client fills in), errors are numbered from 6000, and the programs called by CPI
 * default to their well-known addresses.
 */
import {
  bytesTypeNode,
  errorNode,
  fieldDiscriminatorNode,
  fixedSizeTypeNode,
  instructionAccountNode,
  instructionArgumentNode,
  instructionNode,
  numberTypeNode,
  numberValueNode,
  publicKeyValueNode,
  structFieldTypeNode,
  type InstructionAccountNode,
  type InstructionArgumentNode,
  type StructFieldTypeNode,
} from 'codama';
import { SYSTEM_PROGRAM, TOKEN_PROGRAM } from '../client/address.ts';

export const u8 = () => numberTypeNode('u8');
export const u16 = () => numberTypeNode('u16');
export const u64 = () => numberTypeNode('u64');
export const i64 = () => numberTypeNode('i64');
export const u128 = () => numberTypeNode('u128');
/** 32 bytes: a SHA-256 digest. */
export const hash = () => fixedSizeTypeNode(bytesTypeNode(), 32);
export const bytes = (n: number) => fixedSizeTypeNode(bytesTypeNode(), n);

/** An account's kind: its first byte. */
export const kindField = (value: number) => structFieldTypeNode({ name: 'discriminator', type: u8(), defaultValue: numberValueNode(value), defaultValueStrategy: 'omitted' });
export const field = (name: string, type: StructFieldTypeNode['type'], docs?: string): StructFieldTypeNode => structFieldTypeNode({ name, type, ...(docs ? { docs: [docs] } : {}) });
export const arg = (name: string, type: InstructionArgumentNode['type'], docs?: string): InstructionArgumentNode => instructionArgumentNode({ name, type, ...(docs ? { docs: [docs] } : {}) });

export interface AccountOptions {
  writable?: boolean;
  signer?: boolean | 'either';
  docs?: string;
  defaultValue?: InstructionAccountNode['defaultValue'];
}
export const account = (name: string, o: AccountOptions = {}): InstructionAccountNode =>
  instructionAccountNode({ name, isWritable: o.writable ?? false, isSigner: o.signer ?? false, ...(o.docs ? { docs: [o.docs] } : {}), ...(o.defaultValue ? { defaultValue: o.defaultValue } : {}) });

export const tokenProgram = () => account('tokenProgram', { defaultValue: publicKeyValueNode(TOKEN_PROGRAM, 'splToken') });
export const systemProgram = () => account('systemProgram', { defaultValue: publicKeyValueNode(SYSTEM_PROGRAM, 'systemProgram') });

/** An instruction builder for a program whose instruction numbers are `numbers`. */
export function instructionsOf<N extends Record<string, number>>(numbers: N) {
  return (name: keyof N & string, docs: string, accounts: InstructionAccountNode[], args: InstructionArgumentNode[] = [], extra: Partial<Parameters<typeof instructionNode>[0]> = {}) =>
    instructionNode({
      name,
      docs: [docs],
      accounts,
      arguments: [instructionArgumentNode({ name: 'discriminator', type: u8(), defaultValue: numberValueNode(numbers[name]!), defaultValueStrategy: 'omitted' }), ...args],
      discriminators: [fieldDiscriminatorNode('discriminator')],
      ...extra,
    });
}

export const errorsOf = (list: readonly (readonly [number, string, string])[]) => list.map(([code, name, message]) => errorNode({ code, name, message }));
