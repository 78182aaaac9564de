import { ESCROW_ERRORS, ESCROW_PROGRAM_ID } from '../escrow/constants.ts';
import { GOVERNANCE_ERRORS, GOVERNANCE_PROGRAM_ID } from '../governance/constants.ts';
import { STAKING_ERRORS, STAKING_PROGRAM_ID } from '../staking/constants.ts';
import type { Instruction } from './tx.ts';

/** Our programs' errors by program id, with the name each program goes by in a sentence. */
const PROGRAMS: Record<string, { name: string; errors: readonly (readonly [number, string, string])[] }> = {
  [ESCROW_PROGRAM_ID]: { name: 'escrow', errors: ESCROW_ERRORS },
  [STAKING_PROGRAM_ID]: { name: 'staking', errors: STAKING_ERRORS },
  [GOVERNANCE_PROGRAM_ID]: { name: 'governance', errors: GOVERNANCE_ERRORS },
};

/** What one of our programs refused a transaction with, in words. */
export interface ProgramRefusal {
  program: string;
  /** The program's own name: escrow, staking or governance. */
  programName: string;
  code: number;
  /** The IDL's name of the error (votingClosed). */
  error: string;
  /** The IDL's sentence for it. */
  sentence: string;
}

/** A failed send's program logs, where the node sent them (a simulation's `data.logs`). */
function logsOf(failure: unknown): readonly string[] {
  const logs = (failure as { data?: { logs?: unknown } } | null)?.data?.logs;
  return Array.isArray(logs) ? logs.filter((l): l is string => typeof l === 'string') : [];
}

/**
 * The program error a failed transaction names (a node's "Error processing Instruction N: custom
 * program error: 0x…"), looked up in the IDL of the program that raised it (`programs`: other
 * deployments' ids of ours, by name). The instruction's program passes on the error of a program it
 * called (governance executing a slash through staking): the logs, where the failure has them,
 * name the first program that failed; without them, instruction N's program is taken. `failure`:
 * the error thrown (its message and the node's data), or just the message. Null when the failure
 * is not one of our programs' errors.
 */
export function programRefusal(failure: unknown, instructions: readonly Instruction[], programs: Partial<Record<'escrow' | 'staking' | 'governance', string>> = {}): ProgramRefusal | null {
  const message = typeof failure === 'string' ? failure : failure instanceof Error ? failure.message : null;
  const m = message === null ? null : /Instruction (\d+): custom program error: 0x([0-9a-f]+)/i.exec(message);
  if (!m) return null;
  const ix = instructions[Number(m[1])];
  if (!ix) return null;
  const raisedBy = logsOf(failure)
    .map((l) => /^Program (\w+) failed: custom program error: 0x([0-9a-f]+)$/i.exec(l))
    .find((f) => f !== null && f[2]!.toLowerCase() === m[2]!.toLowerCase())?.[1];
  const programId = raisedBy ?? ix.programId;
  const byDeployment = Object.entries(programs).find(([, id]) => id === programId)?.[0];
  const known = PROGRAMS[programId] ?? (byDeployment ? Object.values(PROGRAMS).find((p) => p.name === byDeployment) : undefined);
  if (!known) return null;
  const code = parseInt(m[2]!, 16);
  const entry = known.errors.find(([c]) => c === code);
  if (!entry) return null;
  return { program: programId, programName: known.name, code, error: entry[1], sentence: entry[2] };
}
