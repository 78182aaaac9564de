import { readFileSync } from 'node:fs';
import { Keypair } from '@solana/web3.js';
import { describe, expect, it } from 'vitest';
import { Chain } from '../local-chain/chain.ts';
import { RpcError } from '../local-chain/errors.ts';
import { deployProgram, deployedElf, programDataAddress, type Send } from '../client/deploy.ts';
import { signerFromSecretKey, signTransaction, type TransactionSigner } from '../client/tx.ts';
import { readObject, STT_FUNC } from './elf.ts';
import { link, LinkError, MM_PROGRAM_START, sectionTable } from './link.ts';

// The committed objects that programs/build/build.ts compiles from fixtures/*.c (CI rebuilds and compares them).
const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/${name}`, import.meta.url)));
const hello = fixture('hello.o');
const GREETING = 'hello from a DougAI test program';

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
const CALL = 0x85;

/** Replaces one same-length ASCII string in a copy of `bytes` (to make a name no runtime knows). */
function renamed(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const text = Buffer.from(bytes).toString('latin1');
  const at = text.indexOf(`${from}\0`);
  if (at < 0 || from.length !== to.length) throw new Error(`no ${from} to rename`);
  const copy = new Uint8Array(bytes);
  copy.set(new TextEncoder().encode(to), at);
  return copy;
}

describe('the SBPF linker', () => {
  const linked = link(hello);
  const so = linked.so;
  const sections = sectionTable(so);

  it('writes an SBPFv0 shared object with one .text and every allocated section at its own file offset', () => {
    const v = view(so);
    expect(v.getUint16(16, true)).toBe(3); // ET_DYN
    expect(v.getUint16(18, true)).toBe(247); // EM_BPF
    expect(v.getUint32(48, true)).toBe(0); // e_flags: SBPFv0
    expect([...sections.keys()]).toEqual(['.text', '.rodata', '.dynamic', '.dynsym', '.dynstr', '.rel.dyn', '.shstrtab']);
    let end = 0;
    for (const [name, s] of sections) {
      if (s.flags & 2) expect(s.address, name).toBe(s.offset);
      expect(s.offset, `${name} in file order`).toBeGreaterThanOrEqual(end);
      end = s.offset + s.size;
    }
    const text = sections.get('.text')!;
    expect(text.offset % 8).toBe(0);
    const entry = Number(v.getBigUint64(24, true));
    expect(entry).toBeGreaterThanOrEqual(text.offset);
    expect(entry).toBeLessThan(text.offset + text.size);
    // The entry is the object's `entrypoint`, placed where the text was placed.
    const symbol = readObject(hello).symbols.find((s) => s.name === 'entrypoint' && s.type === STT_FUNC)!;
    expect(entry).toBe(text.offset + symbol.value);
  });

  it('resolves pointers stored in constant data to their addresses in the program region', () => {
    const v = view(so);
    const rodata = sections.get('.rodata')!;
    const object = readObject(hello);
    const table = object.symbols.find((s) => s.name === 'words')!;
    const objectRodata = object.sections.find((s) => s.name === '.rodata')!;
    expect(table.shndx).toBe(objectRodata.index);
    // The table sits at the start of the output's .rodata plus its offset in the object's .rodata (placed first).
    const entries = [0, 1].map((i) => Number(v.getBigUint64(rodata.offset + table.value + 16 * i, true)) - Number(MM_PROGRAM_START));
    const text = entries.map((at, i) => Buffer.from(so.subarray(at, at + Number(v.getBigUint64(rodata.offset + table.value + 16 * i + 8, true)))).toString('latin1'));
    expect(text).toEqual(['first word', 'second word']);
  });

  it('resolves data addresses into the program region and calls to our own functions PC-relative', () => {
    const v = view(so);
    const text = sections.get('.text')!;
    const rodata = sections.get('.rodata')!;
    const loads: number[] = [];
    const calls: { at: number; imm: number }[] = [];
    for (let at = text.offset; at < text.offset + text.size; at += 8) {
      if (so[at] === 0x18) {
        loads.push(Number((BigInt(v.getUint32(at + 12, true)) << 32n) | BigInt(v.getUint32(at + 4, true))));
        at += 8;
      } else if (so[at] === CALL) calls.push({ at, imm: v.getInt32(at + 4, true) });
    }
    // Every lddw names a byte of .rodata as the VM sees it; one of them is the greeting.
    expect(loads.length).toBeGreaterThan(0);
    for (const address of loads) {
      const offset = address - Number(MM_PROGRAM_START);
      expect(offset).toBeGreaterThanOrEqual(rodata.offset);
      expect(offset).toBeLessThan(rodata.offset + rodata.size);
    }
    const strings = loads.map((a) => Buffer.from(so.subarray(a - Number(MM_PROGRAM_START))).toString('latin1'));
    expect(strings.some((s) => s.startsWith(GREETING))).toBe(true);
    // The global sum_bytes (an object relocation) and the static twice (resolved by clang) are both PC-relative.
    const object = readObject(hello);
    const targets = ['sum_bytes', 'twice'].map((name) => text.offset + object.symbols.find((s) => s.name === name)!.value);
    const local = calls.filter((c) => c.imm !== -1).map((c) => c.at + 8 + 8 * c.imm);
    for (const t of targets) expect(local).toContain(t);
  });

  it('binds each syscall by name: a dynamic symbol and an R_BPF_64_32 relocation for every call site', () => {
    expect(linked.syscalls).toEqual(['sol_log_', 'sol_log_64_']);
    const v = view(so);
    const rel = sections.get('.rel.dyn')!;
    const dynsym = sections.get('.dynsym')!;
    const dynstr = sections.get('.dynstr')!;
    const nameOf = (index: number) => {
      const at = dynstr.offset + v.getUint32(dynsym.offset + 24 * index, true);
      return Buffer.from(so.subarray(at, so.indexOf(0, at))).toString('latin1');
    };
    const bound = new Map<number, string>();
    for (let at = rel.offset; at < rel.offset + rel.size; at += 16) {
      const info = v.getBigUint64(at + 8, true);
      expect(Number(info & 0xffffffffn)).toBe(10); // R_BPF_64_32
      bound.set(Number(v.getBigUint64(at, true)), nameOf(Number(info >> 32n)));
    }
    const text = sections.get('.text')!;
    const syscallSites: number[] = [];
    for (let at = text.offset; at < text.offset + text.size; at += so[at] === 0x18 ? 16 : 8) if (so[at] === CALL && v.getInt32(at + 4, true) === -1) syscallSites.push(at);
    expect(syscallSites.sort()).toEqual([...bound.keys()].sort());
    expect(new Set(bound.values())).toEqual(new Set(['sol_log_', 'sol_log_64_']));
  });

  it('refuses a writable global, naming it', () => {
    expect(() => link(fixture('writable.o'))).toThrow(LinkError);
    expect(() => link(fixture('writable.o'))).toThrow(/writable global counter in \.bss/);
  });

  it('refuses a call to a function that is neither ours nor a syscall', () => {
    expect(() => link(renamed(hello, 'sol_log_64_', 'sol_log_6x_'))).toThrow(/call to undefined function sol_log_6x_: not a Solana syscall/);
  });

  it('refuses an object without an entrypoint and bytes that are not an object', () => {
    expect(() => link(hello, 'no_such_entry')).toThrow(/no global function named no_such_entry/);
    expect(() => link(so)).toThrow(/unreadable object: ELF type 3 is not a relocatable object/);
    expect(() => link(new Uint8Array(100))).toThrow(/not an ELF file/);
  });

  it('is deterministic: the same object links to the same bytes', () => {
    expect(Buffer.compare(link(hello).so, so)).toBe(0);
  });
});

describe('a linked program on the local chain, deployed through the upgradeable loader', () => {
  async function setup() {
    const chain = new Chain({ slotMs: 0 });
    const keys = async () => signerFromSecretKey(Keypair.generate().secretKey);
    const payer = await keys();
    chain.airdrop(payer.publicKey, 100_000_000_000n);
    const send: Send = async (instructions, signers) => {
      const tx = await signTransaction({ payer: signers[0]!.publicKey, recentBlockhash: chain.latestBlockhash.blockhash, instructions, signers });
      return chain.send(tx.bytes);
    };
    const deploy = async (elf: Uint8Array) => {
      const program = await keys();
      await deployProgram(send, { elf, payer, authority: payer, buffer: await keys(), program, rentExempt: async (n) => chain.minimumBalanceForRentExemption(n) });
      chain.advanceSlots(1); // a deployment is visible from the next slot
      return program.publicKey;
    };
    const call = async (program: string, data: number[]) => {
      const signer: TransactionSigner = payer;
      const signature = await send([{ programId: program, keys: [{ pubkey: payer.publicKey, isSigner: true, isWritable: true }], data: Uint8Array.from(data) }], [signer]);
      return chain.getTransaction(String(signature))!;
    };
    return { chain, deploy, call };
  }

  it('runs: logs from read-only data, syscalls with arguments, the instruction data, a custom error', async () => {
    const { chain, deploy, call } = await setup();
    const { so } = link(hello);
    const program = await deploy(so);
    const programData = chain.getAccount(await programDataAddress(program))!;
    expect(Buffer.compare(deployedElf(programData.data, so.length), so)).toBe(0);

    const ok = await call(program, [1, 2, 3]);
    expect(ok.meta.err).toBeNull();
    expect(ok.meta.logMessages).toContain(`Program log: ${GREETING}`);
    expect(ok.meta.logMessages).toContain('Program log: twice');
    // sol_log_64_ prints hex: one account, 3 bytes of data, their sum 6, twice that 12.
    expect(ok.meta.logMessages).toContain('Program log: 0x1, 0x3, 0x6, 0xc, 0x0');
    // A constant table of pointers (rodata relocations the linker resolved): entry 1, then entry 0.
    expect(ok.meta.logMessages).toContain('Program log: second word');
    expect((await call(program, [0])).meta.logMessages).toContain('Program log: first word');

    await expect(call(program, [0xee])).rejects.toThrow(/custom program error: 0x7/);
  });

  it('is refused at deployment when it calls a syscall the runtime does not have', async () => {
    const { deploy } = await setup();
    const broken = renamed(link(hello).so, 'sol_log_64_', 'sol_log_6x_');
    const error = await deploy(broken).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(RpcError);
    // The loader verified the ELF at deployment and named the syscall it could not bind.
    expect((error as RpcError & { data: { logs: string[] } }).data.logs.join('\n')).toMatch(/Unresolved symbol \(sol_log_6x_\)/);
  });
});
