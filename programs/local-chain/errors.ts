// Transaction errors as the Solana RPC writes them: the JSON value (`"BlockhashNotFound"`,
// `{"InstructionError":[0,{"Custom":1}]}`) and the validator's message text for each.

import type { FailedTransactionMetadata } from 'litesvm';

/** A transaction error in the RPC's JSON shape. */
export type TransactionErrorJson = string | Record<string, unknown>;

// Order and text follow solana-transaction-error's TransactionError (the fieldless variants, by
// LiteSVM's TransactionErrorFieldless number).
const TRANSACTION_ERRORS: [string, string][] = [
  ['AccountInUse', 'Account in use'],
  ['AccountLoadedTwice', 'Account loaded twice'],
  ['AccountNotFound', 'Attempt to debit an account but found no record of a prior credit.'],
  ['ProgramAccountNotFound', 'Attempt to load a program that does not exist'],
  ['InsufficientFundsForFee', 'Insufficient funds for fee'],
  ['InvalidAccountForFee', 'This account may not be used to pay transaction fees'],
  ['AlreadyProcessed', 'This transaction has already been processed'],
  ['BlockhashNotFound', 'Blockhash not found'],
  ['CallChainTooDeep', 'Loader call chain is too deep'],
  ['MissingSignatureForFee', 'Transaction requires a fee but has no signature present'],
  ['InvalidAccountIndex', 'Transaction contains an invalid account reference'],
  ['SignatureFailure', 'Transaction did not pass signature verification'],
  ['InvalidProgramForExecution', 'This program may not be used for executing instructions'],
  ['SanitizeFailure', 'Transaction failed to sanitize accounts offsets correctly'],
  ['ClusterMaintenance', 'Transactions are currently disabled due to cluster maintenance'],
  ['AccountBorrowOutstanding', 'Transaction processing left an account with an outstanding borrowed reference'],
  ['WouldExceedMaxBlockCostLimit', 'Transaction would exceed max Block Cost Limit'],
  ['UnsupportedVersion', 'Transaction version is unsupported'],
  ['InvalidWritableAccount', 'Transaction loads a writable account that cannot be written'],
  ['WouldExceedMaxAccountCostLimit', 'Transaction would exceed max account limit within the block'],
  ['WouldExceedAccountDataBlockLimit', 'Transaction would exceed account data limit within the block'],
  ['TooManyAccountLocks', 'Transaction locked too many accounts'],
  ['AddressLookupTableNotFound', 'Transaction loads an address table account that does not exist'],
  ['InvalidAddressLookupTableOwner', 'Transaction loads an address table account with an invalid owner'],
  ['InvalidAddressLookupTableData', 'Transaction loads an address table account with invalid data'],
  ['InvalidAddressLookupTableIndex', 'Transaction address table lookup uses an invalid index'],
  ['InvalidRentPayingAccount', 'Transaction leaves an account with a lower balance than rent-exempt minimum'],
  ['WouldExceedMaxVoteCostLimit', 'Transaction would exceed max Vote Cost Limit'],
  ['WouldExceedAccountDataTotalLimit', 'Transaction would exceed total account data limit'],
  ['MaxLoadedAccountsDataSizeExceeded', 'Transaction exceeded max loaded accounts data size cap'],
  ['ResanitizationNeeded', 'ResanitizationNeeded'],
  ['InvalidLoadedAccountsDataSizeLimit', 'LoadedAccountsDataSizeLimit set for transaction must be greater than 0.'],
  ['UnbalancedTransaction', 'Sum of account balances before and after transaction do not match'],
  ['ProgramCacheHitMaxLimit', 'Program cache hit max limit'],
  ['CommitCancelled', 'CommitCancelled'],
];

// solana-instruction-error's InstructionError, by LiteSVM's InstructionErrorFieldless number.
const INSTRUCTION_ERRORS: [string, string][] = [
  ['GenericError', 'generic instruction error'],
  ['InvalidArgument', 'invalid program argument'],
  ['InvalidInstructionData', 'invalid instruction data'],
  ['InvalidAccountData', 'invalid account data for instruction'],
  ['AccountDataTooSmall', 'account data too small for instruction'],
  ['InsufficientFunds', 'insufficient funds for instruction'],
  ['IncorrectProgramId', 'incorrect program id for instruction'],
  ['MissingRequiredSignature', 'missing required signature for instruction'],
  ['AccountAlreadyInitialized', 'instruction requires an uninitialized account'],
  ['UninitializedAccount', 'instruction requires an initialized account'],
  ['UnbalancedInstruction', 'sum of account balances before and after instruction do not match'],
  ['ModifiedProgramId', 'instruction illegally modified the program id of an account'],
  ['ExternalAccountLamportSpend', 'instruction spent from the balance of an account it does not own'],
  ['ExternalAccountDataModified', 'instruction modified data of an account it does not own'],
  ['ReadonlyLamportChange', 'instruction changed the balance of a read-only account'],
  ['ReadonlyDataModified', 'instruction modified data of a read-only account'],
  ['DuplicateAccountIndex', 'instruction contains duplicate accounts'],
  ['ExecutableModified', 'instruction changed executable bit of an account'],
  ['RentEpochModified', 'instruction modified rent epoch of an account'],
  ['NotEnoughAccountKeys', 'insufficient account keys for instruction'],
  ['AccountDataSizeChanged', 'program other than the account\'s owner changed the size of the account data'],
  ['AccountNotExecutable', 'instruction expected an executable account'],
  ['AccountBorrowFailed', 'instruction tries to borrow reference for an account which is already borrowed'],
  ['AccountBorrowOutstanding', 'instruction left account with an outstanding borrowed reference'],
  ['DuplicateAccountOutOfSync', 'instruction modifications of multiply-passed account differ'],
  ['InvalidError', 'program returned invalid error code'],
  ['ExecutableDataModified', 'instruction changed executable accounts data'],
  ['ExecutableLamportChange', 'instruction changed the balance of an executable account'],
  ['ExecutableAccountNotRentExempt', 'executable accounts must be rent exempt'],
  ['UnsupportedProgramId', 'Unsupported program id'],
  ['CallDepth', 'Cross-program invocation call depth too deep'],
  ['MissingAccount', 'An account required by the instruction is missing'],
  ['ReentrancyNotAllowed', 'Cross-program invocation reentrancy not allowed for this instruction'],
  ['MaxSeedLengthExceeded', 'Length of the seed is too long for address generation'],
  ['InvalidSeeds', 'Provided seeds do not result in a valid address'],
  ['InvalidRealloc', 'Failed to reallocate account data'],
  ['ComputationalBudgetExceeded', 'Computational budget exceeded'],
  ['PrivilegeEscalation', 'Cross-program invocation with unauthorized signer or writable account'],
  ['ProgramEnvironmentSetupFailure', 'Failed to create program execution environment'],
  ['ProgramFailedToComplete', 'Program failed to complete'],
  ['ProgramFailedToCompile', 'Program failed to compile'],
  ['Immutable', 'Account is immutable'],
  ['IncorrectAuthority', 'Incorrect authority provided'],
  ['AccountNotRentExempt', 'An account does not have enough lamports to be rent-exempt'],
  ['InvalidAccountOwner', 'Invalid account owner'],
  ['ArithmeticOverflow', 'Program arithmetic overflowed'],
  ['UnsupportedSysvar', 'Unsupported sysvar'],
  ['IllegalOwner', 'Provided owner is not allowed'],
  ['MaxAccountsDataAllocationsExceeded', 'Accounts data allocations exceeded the maximum allowed per transaction'],
  ['MaxAccountsExceeded', 'Max accounts exceeded'],
  ['MaxInstructionTraceLengthExceeded', 'Max instruction trace length exceeded'],
  ['BuiltinProgramsMustConsumeComputeUnits', 'Builtin programs must consume compute units'],
  ['BorshIoError', 'Failed to serialize or deserialize account data'],
];

/** A transaction error with both forms. */
export interface TransactionFailure {
  json: TransactionErrorJson;
  message: string;
}

/** A named fieldless transaction error (one this server raises itself). */
export function fieldless(name: string): TransactionFailure {
  const entry = TRANSACTION_ERRORS.find(([n]) => n === name);
  return { json: name, message: entry ? entry[1] : name };
}

function instructionError(e: unknown): { json: unknown; message: string } {
  if (typeof e === 'number') {
    const entry = INSTRUCTION_ERRORS[e];
    return entry ? { json: entry[0], message: entry[1] } : { json: 'GenericError', message: `instruction error ${e}` };
  }
  const o = e as { code?: number; msg?: string };
  if (typeof o.code === 'number') return { json: { Custom: o.code }, message: `custom program error: 0x${o.code.toString(16)}` };
  if (typeof o.msg === 'string') return { json: { BorshIoError: o.msg }, message: 'Failed to serialize or deserialize account data' };
  return { json: 'GenericError', message: 'generic instruction error' };
}

/** Converts LiteSVM's error value (a fieldless number or one of its error classes) to the RPC's shape. */
export function fromLiteSvm(err: ReturnType<FailedTransactionMetadata['err']>): TransactionFailure {
  if (typeof err === 'number') {
    const entry = TRANSACTION_ERRORS[err];
    return entry ? { json: entry[0], message: entry[1] } : { json: 'SanitizeFailure', message: `transaction error ${err}` };
  }
  const name = err.constructor.name;
  const o = err as unknown as { index?: number; accountIndex?: number; err?: () => unknown };
  if (name === 'TransactionErrorInstructionError' && typeof o.err === 'function') {
    const inner = instructionError(o.err());
    return { json: { InstructionError: [o.index, inner.json] }, message: `Error processing Instruction ${o.index}: ${inner.message}` };
  }
  if (name === 'TransactionErrorDuplicateInstruction')
    return { json: { DuplicateInstruction: o.index }, message: `Transaction contains a duplicate instruction (${o.index}) that is not allowed` };
  if (name === 'TransactionErrorInsufficientFundsForRent')
    return { json: { InsufficientFundsForRent: { account_index: o.accountIndex } }, message: `Transaction results in an account (${o.accountIndex}) with insufficient funds for rent` };
  if (name === 'TransactionErrorProgramExecutionTemporarilyRestricted')
    return { json: { ProgramExecutionTemporarilyRestricted: { account_index: o.accountIndex } }, message: `Execution of the program referenced by account at index ${o.accountIndex} is temporarily restricted.` };
  return { json: 'SanitizeFailure', message: String(err) };
}

/** Whether a failed transaction is still committed (fee charged, recorded) rather than dropped. */
export function isCommitted(failure: TransactionFailure): boolean {
  if (typeof failure.json === 'string') return false;
  return 'InstructionError' in failure.json || 'InsufficientFundsForRent' in failure.json || 'ProgramExecutionTemporarilyRestricted' in failure.json;
}

/** A JSON-RPC error. */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;
/** The validator's custom codes (solana-rpc-client-api's custom_error). */
export const SEND_TRANSACTION_PREFLIGHT_FAILURE = -32002;
export const TRANSACTION_SIGNATURE_VERIFICATION_FAILURE = -32003;
export const UNSUPPORTED_TRANSACTION_VERSION = -32015;
export const MIN_CONTEXT_SLOT_NOT_REACHED = -32016;

/** An invalid-params error with the validator's wording. */
export const invalidParams = (detail: string) => new RpcError(INVALID_PARAMS, `Invalid params: ${detail}`);
