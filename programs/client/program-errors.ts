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

/**
 * The program error a failed transaction's message names (a node's "Error processing Instruction N:
 * custom program error: 0x…"), looked up in the IDL of the program instruction N calls (`programs`:
 * other deployments' ids of ours, by name). Null when the failure is not one of our programs' errors.
 */
export function programRefusal(message: string, instructions: readonly Instruction[], programs: Partial<Record<'escrow' | 'staking' | 'governance', string>> = {}): ProgramRefusal | null {
  const m = /Instruction (\d+): custom program error: 0x([0-9a-f]+)/i.exec(message);
  if (!m) return null;
  const ix = instructions[Number(m[1])];
  if (!ix) return null;
  const byDeployment = Object.entries(programs).find(([, id]) => id === ix.programId)?.[0];
  const known = PROGRAMS[ix.programId] ?? (byDeployment ? Object.values(PROGRAMS).find((p) => p.name === byDeployment) : undefined);
  if (!known) return null;
  const code = parseInt(m[2]!, 16);
  const entry = known.errors.find(([c]) => c === code);
  if (!entry) return null;
  return { program: ix.programId, programName: known.name, code, error: entry[1], sentence: entry[2] };
}
