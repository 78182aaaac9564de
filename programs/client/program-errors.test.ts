import { describe, expect, it } from 'vitest';
import { GOVERNANCE_PROGRAM_ID } from '../governance/constants.ts';
import { STAKING_PROGRAM_ID } from '../staking/constants.ts';
import { programRefusal } from './program-errors.ts';
import type { Instruction } from './tx.ts';

const ix = (programId: string): Instruction => ({ programId, keys: [], data: new Uint8Array(1) });
const OTHER = '11111111111111111111111111111111';

describe('programRefusal', () => {
  it('names the error of the program the failing instruction calls, in the IDL’s words', () => {
    const instructions = [ix(OTHER), ix(GOVERNANCE_PROGRAM_ID)];
    expect(programRefusal('Transaction simulation failed: Error processing Instruction 1: custom program error: 0x177c', instructions)).toEqual({
      program: GOVERNANCE_PROGRAM_ID,
      programName: 'governance',
      code: 6012,
      error: 'votingClosed',
      sentence: 'The proposal’s voting period (or a slash’s appeal window) has ended',
    });
    // The same code from the staking program means something else.
    expect(programRefusal('Error processing Instruction 0: custom program error: 0x177c', [ix(STAKING_PROGRAM_ID)])?.error).toBe('zeroAmount');
  });

  it('answers null for another program’s error, an unknown code, an instruction out of range, or no program error at all', () => {
    expect(programRefusal('Error processing Instruction 0: custom program error: 0x1', [ix(OTHER)])).toBeNull();
    expect(programRefusal('Error processing Instruction 0: custom program error: 0x1', [ix(GOVERNANCE_PROGRAM_ID)])).toBeNull();
    expect(programRefusal('Error processing Instruction 3: custom program error: 0x1770', [ix(GOVERNANCE_PROGRAM_ID)])).toBeNull();
    expect(programRefusal('Blockhash not found', [ix(GOVERNANCE_PROGRAM_ID)])).toBeNull();
  });

  it('names the program that raised the error where the logs say one called by the instruction’s program did (a CPI)', () => {
    const failure = Object.assign(new Error('sendTransaction: Transaction simulation failed: Error processing Instruction 0: custom program error: 0x1781'), {
      data: { logs: [`Program ${GOVERNANCE_PROGRAM_ID} invoke [1]`, `Program ${STAKING_PROGRAM_ID} invoke [2]`, `Program ${STAKING_PROGRAM_ID} failed: custom program error: 0x1781`, `Program ${GOVERNANCE_PROGRAM_ID} failed: custom program error: 0x1781`] },
    });
    expect(programRefusal(failure, [ix(GOVERNANCE_PROGRAM_ID)])).toMatchObject({ program: STAKING_PROGRAM_ID, programName: 'staking', error: 'slashTooLarge' });
    // Without the logs, the instruction's program is all there is to go by.
    expect(programRefusal(new Error(failure.message), [ix(GOVERNANCE_PROGRAM_ID)])).toMatchObject({ programName: 'governance', error: 'notSlashProposer' });
  });

  it('knows a deployment’s own program ids by name', () => {
    const mine = 'So11111111111111111111111111111111111111112';
    expect(programRefusal('Error processing Instruction 0: custom program error: 0x1770', [ix(mine)], { staking: mine })).toMatchObject({ programName: 'staking', error: 'invalidInstruction' });
  });
});
