import { findProgramAddress, SYSTEM_PROGRAM } from './address.ts';
import { sendAndFinalize } from './mint.ts';
import type { SolanaRpc } from './rpc.ts';
import { keyBytes, type Instruction, type TransactionSigner } from './tx.ts';

/*
 * Deploying a program through the upgradeable loader (BPF loader v3), as `solana program deploy`
 * does: a buffer account receives the ELF in chunks, then DeployWithMaxDataLen moves it into the
 * program's program-data account (a PDA of the program id) after the loader has verified it
 * strictly (unknown syscalls and malformed ELFs are refused here, not at the first call). A
 * deployed program is upgraded the same way, with Upgrade instead of Deploy. Instructions are
 * bincode: a u32 tag, then the fields.
 */

export const UPGRADEABLE_LOADER = 'BPFLoaderUpgradeab1e11111111111111111111111';
export const SYSVAR_RENT = 'SysvarRent111111111111111111111111111111111';
export const SYSVAR_CLOCK = 'SysvarC1ock11111111111111111111111111111111';

/** Account sizes of the loader's states: buffer and program-data carry a header before the ELF. */
export const BUFFER_HEADER = 37;
export const PROGRAM_DATA_HEADER = 45;
export const PROGRAM_ACCOUNT_SIZE = 36;
/** ELF bytes per Write transaction (a legacy transaction is at most 1,232 bytes). */
export const WRITE_CHUNK = 900;

const INITIALIZE_BUFFER = 0;
const WRITE = 1;
const DEPLOY_WITH_MAX_DATA_LEN = 2;
const UPGRADE = 3;
const EXTEND_PROGRAM = 6;

function tagged(tag: number, size = 0): { data: Uint8Array; view: DataView } {
  const data = new Uint8Array(4 + size);
  const view = new DataView(data.buffer);
  view.setUint32(0, tag, true);
  return { data, view };
}

/** System program CreateAccount: `space` bytes owned by `owner`, funded by `payer`. */
export function createAccount(o: { payer: string; account: string; lamports: bigint; space: number; owner: string }): Instruction {
  const { data, view } = tagged(0, 8 + 8 + 32);
  view.setBigUint64(4, o.lamports, true);
  view.setBigUint64(12, BigInt(o.space), true);
  data.set(keyBytes(o.owner), 20);
  return {
    programId: SYSTEM_PROGRAM,
    keys: [
      { pubkey: o.payer, isSigner: true, isWritable: true },
      { pubkey: o.account, isSigner: true, isWritable: true },
    ],
    data,
  };
}

export function initializeBuffer(o: { buffer: string; authority: string }): Instruction {
  return {
    programId: UPGRADEABLE_LOADER,
    keys: [
      { pubkey: o.buffer, isSigner: false, isWritable: true },
      { pubkey: o.authority, isSigner: false, isWritable: false },
    ],
    data: tagged(INITIALIZE_BUFFER).data,
  };
}

export function writeBuffer(o: { buffer: string; authority: string; offset: number; bytes: Uint8Array }): Instruction {
  const { data, view } = tagged(WRITE, 4 + 8 + o.bytes.length);
  view.setUint32(4, o.offset, true);
  view.setBigUint64(8, BigInt(o.bytes.length), true);
  data.set(o.bytes, 16);
  return {
    programId: UPGRADEABLE_LOADER,
    keys: [
      { pubkey: o.buffer, isSigner: false, isWritable: true },
      { pubkey: o.authority, isSigner: true, isWritable: false },
    ],
    data,
  };
}

export function deployWithMaxDataLen(o: { payer: string; programData: string; program: string; buffer: string; authority: string; maxDataLen: number }): Instruction {
  const { data, view } = tagged(DEPLOY_WITH_MAX_DATA_LEN, 8);
  view.setBigUint64(4, BigInt(o.maxDataLen), true);
  return {
    programId: UPGRADEABLE_LOADER,
    keys: [
      { pubkey: o.payer, isSigner: true, isWritable: true },
      { pubkey: o.programData, isSigner: false, isWritable: true },
      { pubkey: o.program, isSigner: false, isWritable: true },
      { pubkey: o.buffer, isSigner: false, isWritable: true },
      { pubkey: SYSVAR_RENT, isSigner: false, isWritable: false },
      { pubkey: SYSVAR_CLOCK, isSigner: false, isWritable: false },
      { pubkey: SYSTEM_PROGRAM, isSigner: false, isWritable: false },
      { pubkey: o.authority, isSigner: true, isWritable: false },
    ],
    data,
  };
}

export function upgrade(o: { programData: string; program: string; buffer: string; spill: string; authority: string }): Instruction {
  return {
    programId: UPGRADEABLE_LOADER,
    keys: [
      { pubkey: o.programData, isSigner: false, isWritable: true },
      { pubkey: o.program, isSigner: false, isWritable: true },
      { pubkey: o.buffer, isSigner: false, isWritable: true },
      { pubkey: o.spill, isSigner: false, isWritable: true },
      { pubkey: SYSVAR_RENT, isSigner: false, isWritable: false },
      { pubkey: SYSVAR_CLOCK, isSigner: false, isWritable: false },
      { pubkey: o.authority, isSigner: true, isWritable: false },
    ],
    data: tagged(UPGRADE).data,
  };
}

/**
 * Grows a program's program-data account by `additionalBytes`, the payer funding the rent
 * (ExtendProgram; the loader LiteSVM 1.5 runs has no ExtendProgramChecked yet).
 */
export function extendProgram(o: { programData: string; program: string; payer: string; additionalBytes: number }): Instruction {
  const { data, view } = tagged(EXTEND_PROGRAM, 4);
  view.setUint32(4, o.additionalBytes, true);
  return {
    programId: UPGRADEABLE_LOADER,
    keys: [
      { pubkey: o.programData, isSigner: false, isWritable: true },
      { pubkey: o.program, isSigner: false, isWritable: true },
      { pubkey: SYSTEM_PROGRAM, isSigner: false, isWritable: false },
      { pubkey: o.payer, isSigner: true, isWritable: true },
    ],
    data,
  };
}

/** The program-data account of an upgradeable program. */
export async function programDataAddress(program: string): Promise<string> {
  return (await findProgramAddress([keyBytes(program)], UPGRADEABLE_LOADER)).address;
}

/** Sends the transactions of a deployment; tests hand in the local chain's own sender. */
export type Send = (instructions: Instruction[], signers: TransactionSigner[]) => Promise<unknown>;

export const sendThrough = (rpc: SolanaRpc): Send => (instructions, signers) => sendAndFinalize(rpc, { instructions, signers });

export interface DeployPlan {
  /** The ELF, and the program-data room left for upgrades (default: twice the ELF). */
  elf: Uint8Array;
  maxDataLen?: number;
  payer: TransactionSigner;
  /** Signs for the program-data: the upgrade authority. */
  authority: TransactionSigner;
  /** A fresh keypair's signer for the buffer account. */
  buffer: TransactionSigner;
  rentExempt: (size: number) => Promise<bigint>;
}

/** Fills a new buffer account with the ELF: one transaction to create it, then one per chunk. */
export async function writeToBuffer(send: Send, p: DeployPlan): Promise<void> {
  const size = BUFFER_HEADER + p.elf.length;
  await send(
    [
      createAccount({ payer: p.payer.publicKey, account: p.buffer.publicKey, lamports: await p.rentExempt(size), space: size, owner: UPGRADEABLE_LOADER }),
      initializeBuffer({ buffer: p.buffer.publicKey, authority: p.authority.publicKey }),
    ],
    unique([p.payer, p.buffer]),
  );
  const writes: Promise<unknown>[] = [];
  for (let offset = 0; offset < p.elf.length; offset += WRITE_CHUNK) {
    const bytes = p.elf.subarray(offset, Math.min(p.elf.length, offset + WRITE_CHUNK));
    writes.push(send([writeBuffer({ buffer: p.buffer.publicKey, authority: p.authority.publicKey, offset, bytes })], unique([p.payer, p.authority])));
  }
  await Promise.all(writes);
}

/** Deploys a new program at `program`'s address (its keypair signs the program account's creation). */
export async function deployProgram(send: Send, p: DeployPlan & { program: TransactionSigner }): Promise<{ program: string; programData: string }> {
  await writeToBuffer(send, p);
  const program = p.program.publicKey;
  const programData = await programDataAddress(program);
  await send(
    [
      createAccount({ payer: p.payer.publicKey, account: program, lamports: await p.rentExempt(PROGRAM_ACCOUNT_SIZE), space: PROGRAM_ACCOUNT_SIZE, owner: UPGRADEABLE_LOADER }),
      deployWithMaxDataLen({ payer: p.payer.publicKey, programData, program, buffer: p.buffer.publicKey, authority: p.authority.publicKey, maxDataLen: p.maxDataLen ?? 2 * p.elf.length }),
    ],
    unique([p.payer, p.program, p.authority]),
  );
  return { program, programData };
}

/** Replaces a deployed program's code (the buffer's lamports go back to the payer). */
export async function upgradeProgram(send: Send, p: DeployPlan & { program: string }): Promise<void> {
  await writeToBuffer(send, p);
  await send([upgrade({ programData: await programDataAddress(p.program), program: p.program, buffer: p.buffer.publicKey, spill: p.payer.publicKey, authority: p.authority.publicKey })], unique([p.payer, p.authority]));
}

/** The ELF a program-data account holds (after its header; the account may have room to spare). */
export function deployedElf(programData: Uint8Array, length: number): Uint8Array {
  return programData.subarray(PROGRAM_DATA_HEADER, PROGRAM_DATA_HEADER + length);
}

function unique(signers: TransactionSigner[]): TransactionSigner[] {
  return signers.filter((s, i) => signers.findIndex((t) => t.publicKey === s.publicKey) === i);
}

/**
 * Brings a program on a chain to `elf`, once: deploys it when its account is missing, upgrades it
 * when its code differs, and leaves it when it is the same (what `npm start` does at every start).
 */
export async function ensureProgram(
  rpc: SolanaRpc,
  o: { elf: Uint8Array; program: TransactionSigner; authority: TransactionSigner; payer: TransactionSigner; buffer: () => Promise<TransactionSigner> },
): Promise<'deployed' | 'upgraded' | 'unchanged'> {
  const send = sendThrough(rpc);
  const rentExempt = async (n: number) => BigInt(await rpc.getMinimumBalanceForRentExemption(n));
  const plan = { elf: o.elf, payer: o.payer, authority: o.authority, rentExempt };
  if (!(await rpc.getAccountInfo(o.program.publicKey, 'finalized')).value) {
    await deployProgram(send, { ...plan, buffer: await o.buffer(), program: o.program });
    return 'deployed';
  }
  const data = (await rpc.getAccountInfo(await programDataAddress(o.program.publicKey), 'finalized')).value?.data;
  const same = data !== undefined && data.length >= PROGRAM_DATA_HEADER + o.elf.length && deployedElf(data, o.elf.length).every((b, i) => b === o.elf[i]) && data.subarray(PROGRAM_DATA_HEADER + o.elf.length).every((b) => b === 0);
  if (same) return 'unchanged';
  // A build bigger than the room the program-data account has is given more room first.
  const room = (data?.length ?? 0) - PROGRAM_DATA_HEADER;
  if (o.elf.length > room) {
    const programData = await programDataAddress(o.program.publicKey);
    await send([extendProgram({ programData, program: o.program.publicKey, payer: o.payer.publicKey, additionalBytes: o.elf.length - room })], [o.payer]);
  }
  await upgradeProgram(send, { ...plan, buffer: await o.buffer(), program: o.program.publicKey });
  return 'upgraded';
}
