import {
  ElfFormatError,
  ET_DYN,
  EM_BPF,
  R_BPF_64_32,
  R_BPF_64_64,
  R_BPF_64_ABS64,
  readObject,
  SHF_ALLOC,
  SHF_EXECINSTR,
  SHF_WRITE,
  SHN_UNDEF,
  SHT_DYNAMIC,
  SHT_DYNSYM,
  SHT_NOBITS,
  SHT_PROGBITS,
  SHT_REL,
  SHT_STRTAB,
  STB_GLOBAL,
  STT_FUNC,
  STT_SECTION,
  type ObjectFile,
} from './elf.ts';

/*
 * The linker: one BPF relocatable object (clang's output) → an SBPFv0 shared object that Solana's
 * loaders accept, including the upgradeable loader's strict deploy-time check. lld cannot do this
 * here (lld 14 refuses the BPF relocations; newer lld refuses the machine type), and Solana's own
 * toolchain cannot be fetched. What the loader requires (solana-sbpf's lenient ELF parser with
 * reject_broken_elfs, as LiteSVM runs it):
 *
 * - exactly one section named .text; no .bss and no writable .data (a program has no writable globals);
 * - every allocated section's address equals its file offset, section headers in file order;
 * - a data address in an lddw is 0x1_0000_0000 + the address (the loader maps the file's read-only
 *   part there), written here, so it needs no dynamic relocation;
 * - a pointer in constant data holds its absolute VM address the same way;
 * - a call to one of our functions is a PC-relative immediate (the loader registers its target);
 * - a call to a syscall keeps imm = -1 and gets a dynamic R_BPF_64_32 relocation against a symbol
 *   of the syscall's name, which the loader hashes (murmur3) and binds, refusing unknown names.
 *
 * Layout: ELF header, program headers, .text, .rodata (one R+X load segment), then .dynamic,
 * .dynsym, .dynstr, .rel.dyn (an R segment, plus PT_DYNAMIC), .shstrtab and the section headers.
 * The output depends only on the object's bytes, so a rebuild is byte-identical.
 */

export class LinkError extends Error {
  override readonly name = 'LinkError';
}

/** Where the loader maps the program's read-only bytes (text and rodata) in the VM. */
export const MM_PROGRAM_START = 0x1_0000_0000n;

/** The syscalls Solana's runtime registers; a call to any other external is a build error here. */
export const SYSCALLS: ReadonlySet<string> = new Set([
  'abort', 'sol_panic_', 'sol_log_', 'sol_log_64_', 'sol_log_compute_units_', 'sol_log_pubkey', 'sol_log_data',
  'sol_create_program_address', 'sol_try_find_program_address', 'sol_sha256', 'sol_keccak256', 'sol_blake3',
  'sol_secp256k1_recover', 'sol_curve_validate_point', 'sol_curve_group_op', 'sol_curve_multiscalar_mul',
  'sol_get_clock_sysvar', 'sol_get_epoch_schedule_sysvar', 'sol_get_rent_sysvar', 'sol_get_last_restart_slot',
  'sol_get_epoch_rewards_sysvar', 'sol_get_sysvar', 'sol_get_epoch_stake', 'sol_memcpy_', 'sol_memmove_',
  'sol_memcmp_', 'sol_memset_', 'sol_invoke_signed_c', 'sol_invoke_signed_rust', 'sol_set_return_data',
  'sol_get_return_data', 'sol_get_processed_sibling_instruction', 'sol_get_stack_height',
  'sol_remaining_compute_units', 'sol_poseidon', 'sol_alt_bn128_group_op', 'sol_alt_bn128_compression', 'sol_big_mod_exp',
]);

const EHDR = 64;
const PHDR = 56;
const SHDR = 64;
const SYM = 24;
const REL = 16;
const DYN = 16;
const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PF_X = 1;
const PF_R = 4;
const DT_NULL = 0;
const DT_STRTAB = 5;
const DT_SYMTAB = 6;
const DT_STRSZ = 10;
const DT_SYMENT = 11;
const DT_REL = 17;
const DT_RELSZ = 18;
const DT_RELENT = 19;
const DT_TEXTREL = 22;
const CALL_IMM = 0x85;
const LDDW = 0x18;

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/** What a linked program holds, for tests and the build's report. */
export interface LinkedProgram {
  so: Uint8Array;
  /** Text size in bytes (instructions × 8). */
  textSize: number;
  rodataSize: number;
  /** Syscalls bound by name, in first-use order. */
  syscalls: string[];
}

/** Links one BPF object into an SBPFv0 shared object whose entry is `entrypoint`. */
export function link(object: Uint8Array | ObjectFile, entry = 'entrypoint'): LinkedProgram {
  let obj: ObjectFile;
  try {
    obj = object instanceof Uint8Array ? readObject(object) : object;
  } catch (error) {
    if (error instanceof ElfFormatError) throw new LinkError(`unreadable object: ${error.message}`);
    throw error;
  }
  refuseWritableData(obj);

  // Input sections that become the output's text and rodata, and where each lands.
  const text = obj.sections.filter((s) => s.flags & SHF_ALLOC && s.flags & SHF_EXECINSTR && s.size > 0);
  const rodata = obj.sections.filter((s) => s.flags & SHF_ALLOC && !(s.flags & SHF_EXECINSTR) && !(s.flags & SHF_WRITE) && s.type === SHT_PROGBITS && s.size > 0);
  if (text.length === 0) throw new LinkError('the object has no code');
  const placed = new Map<number, number>();
  const textStart = alignUp(EHDR + 3 * PHDR, 8);
  let at = textStart;
  for (const s of text) {
    at = alignUp(at, Math.max(8, s.align));
    placed.set(s.index, at);
    at += s.size;
  }
  const textEnd = at;
  const rodataStart = alignUp(textEnd, 8);
  at = rodataStart;
  for (const s of rodata) {
    at = alignUp(at, Math.max(1, s.align));
    placed.set(s.index, at);
    at += s.size;
  }
  const rodataEnd = rodata.length > 0 ? at : rodataStart;

  const image = new Uint8Array(rodataEnd);
  for (const s of [...text, ...rodata]) image.set(s.data, placed.get(s.index)!);
  const iv = new DataView(image.buffer);

  const address = (symbolIndex: number): number | null => {
    const sym = obj.symbols[symbolIndex];
    if (!sym || sym.shndx === SHN_UNDEF) return null;
    const base = placed.get(sym.shndx);
    if (base === undefined) throw new LinkError(`symbol ${sym.name || `#${symbolIndex}`} lives in section ${obj.sections[sym.shndx]?.name ?? sym.shndx}, which is not linked`);
    return base + (sym.type === STT_SECTION ? 0 : sym.value);
  };

  // Relocations: the text's (an lddw's data address, a call) and constant data's (a pointer in a
  // const table: its absolute VM address, fixed here, since the loader leaves data alone).
  const syscalls: string[] = [];
  const syscallSites: { offset: number; name: string }[] = [];
  for (const [target, relocations] of obj.relocations) {
    const section = obj.sections[target];
    if (!section || !(section.flags & SHF_ALLOC)) continue;
    const base = placed.get(target);
    if (base === undefined) throw new LinkError(`relocations in ${section.name}, which is not linked`);
    const code = (section.flags & SHF_EXECINSTR) !== 0;
    for (const r of relocations) {
      const site = base + r.offset;
      const sym = obj.symbols[r.symbol];
      const name = sym?.name || obj.sections[sym?.shndx ?? 0]?.name || `#${r.symbol}`;
      if (!code) {
        if (r.type !== R_BPF_64_ABS64) throw new LinkError(`relocation type ${r.type} in ${section.name}+${r.offset} (${name}) is not supported`);
        const target = address(r.symbol);
        if (target === null) throw new LinkError(`address of undefined symbol ${name} in ${section.name}`);
        iv.setBigUint64(site, MM_PROGRAM_START + BigInt(target) + iv.getBigUint64(site, true), true);
        continue;
      }
      if (r.type === R_BPF_64_64) {
        if (image[site] !== LDDW) throw new LinkError(`R_BPF_64_64 at ${section.name}+${r.offset} is not on an lddw`);
        const target = address(r.symbol);
        if (target === null) throw new LinkError(`data address of undefined symbol ${name}`);
        const addend = iv.getInt32(site + 4, true);
        const value = MM_PROGRAM_START + BigInt(target + addend);
        iv.setUint32(site + 4, Number(value & 0xffffffffn), true);
        iv.setUint32(site + 12, Number(value >> 32n), true);
      } else if (r.type === R_BPF_64_32) {
        if (image[site] !== CALL_IMM) throw new LinkError(`R_BPF_64_32 at ${section.name}+${r.offset} is not on a call`);
        const target = address(r.symbol);
        if (target === null) {
          if (!SYSCALLS.has(name)) throw new LinkError(`call to undefined function ${name}: not a Solana syscall (is a libc function such as memcpy being called? use the sol_ syscalls)`);
          if (!syscalls.includes(name)) syscalls.push(name);
          syscallSites.push({ offset: site, name });
          iv.setInt32(site + 4, -1, true);
          continue;
        }
        if (sym && sym.type !== STT_FUNC) throw new LinkError(`call to ${name}, which is not a function`);
        const imm = (target - site) / 8 - 1;
        // The loader reads imm = -1 as "a syscall": a function calling its own first instruction.
        if (imm === -1) throw new LinkError(`call at ${section.name}+${r.offset} targets itself`);
        iv.setInt32(site + 4, imm, true);
      } else throw new LinkError(`relocation type ${r.type} at ${section.name}+${r.offset} (${name}) is not supported`);
    }
  }

  const entrySymbol = obj.symbols.find((s) => s.name === entry && s.type === STT_FUNC && s.bind === STB_GLOBAL && s.shndx !== SHN_UNDEF);
  if (!entrySymbol) throw new LinkError(`no global function named ${entry}`);
  const entryAddress = placed.get(entrySymbol.shndx)! + entrySymbol.value;
  if (!text.some((s) => s.index === entrySymbol.shndx)) throw new LinkError(`${entry} is not in the code`);

  return { so: writeSharedObject(image, { textStart, textEnd, rodataStart, rodataEnd, entryAddress, syscallSites, syscalls }), textSize: textEnd - textStart, rodataSize: rodataEnd - rodataStart, syscalls };
}

function refuseWritableData(obj: ObjectFile): void {
  for (const s of obj.sections) {
    if (!(s.flags & SHF_ALLOC) || s.size === 0) continue;
    if (s.flags & SHF_WRITE || s.type === SHT_NOBITS) {
      const names = obj.symbols.filter((y) => y.shndx === s.index && y.type !== STT_SECTION && y.name).map((y) => y.name);
      throw new LinkError(`writable global${names.length === 1 ? '' : 's'} ${names.join(', ') || '(unnamed)'} in ${s.name}: a Solana program has no writable globals (keep state on the stack or in an account; make tables const)`);
    }
  }
}

interface Layout {
  textStart: number;
  textEnd: number;
  rodataStart: number;
  rodataEnd: number;
  entryAddress: number;
  syscalls: string[];
  syscallSites: { offset: number; name: string }[];
}

/** The output file around the linked image (text and rodata already at their offsets). */
function writeSharedObject(image: Uint8Array, l: Layout): Uint8Array {
  const dynamic = l.syscalls.length > 0;
  // String tables.
  const dynstr = strings(['', ...l.syscalls]);
  const sectionNames = ['', '.text', ...(l.rodataEnd > l.rodataStart ? ['.rodata'] : []), ...(dynamic ? ['.dynamic', '.dynsym', '.dynstr', '.rel.dyn'] : []), '.shstrtab'];
  const shstr = strings(sectionNames);

  let at = l.rodataEnd;
  const dynamicAt = (at = alignUp(at, 8));
  const dynamicEntries: [number, number][] = [];
  const dynsymAt = dynamic ? (at = alignUp(at + 9 * DYN, 8)) : at;
  const dynsymSize = (l.syscalls.length + 1) * SYM;
  const dynstrAt = dynamic ? (at = dynsymAt + dynsymSize) : at;
  const relAt = dynamic ? (at = alignUp(dynstrAt + dynstr.bytes.length, 8)) : at;
  const relSize = l.syscallSites.length * REL;
  if (dynamic) at = relAt + relSize;
  const dynamicEnd = at;
  const shstrAt = at;
  at += shstr.bytes.length;
  const shoff = alignUp(at, 8);
  const shnum = sectionNames.length;
  const out = new Uint8Array(shoff + shnum * SHDR);
  const v = new DataView(out.buffer);
  out.set(image.subarray(l.textStart), l.textStart);

  if (dynamic) {
    dynamicEntries.push([DT_REL, relAt], [DT_RELSZ, relSize], [DT_RELENT, REL], [DT_SYMTAB, dynsymAt], [DT_SYMENT, SYM], [DT_STRTAB, dynstrAt], [DT_STRSZ, dynstr.bytes.length], [DT_TEXTREL, 0], [DT_NULL, 0]);
    dynamicEntries.forEach(([tag, value], i) => {
      v.setBigUint64(dynamicAt + i * DYN, BigInt(tag), true);
      v.setBigUint64(dynamicAt + i * DYN + 8, BigInt(value), true);
    });
    l.syscalls.forEach((name, i) => {
      const s = dynsymAt + (i + 1) * SYM;
      v.setUint32(s, dynstr.offsets.get(name)!, true);
      v.setUint8(s + 4, (STB_GLOBAL << 4) | 0); // global, no type, undefined: bound by name at load
    });
    out.set(dynstr.bytes, dynstrAt);
    l.syscallSites.forEach((site, i) => {
      v.setBigUint64(relAt + i * REL, BigInt(site.offset), true);
      v.setBigUint64(relAt + i * REL + 8, (BigInt(l.syscalls.indexOf(site.name) + 1) << 32n) | BigInt(R_BPF_64_32), true);
    });
  }
  out.set(shstr.bytes, shstrAt);

  // ELF header.
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0);
  v.setUint16(16, ET_DYN, true);
  v.setUint16(18, EM_BPF, true);
  v.setUint32(20, 1, true);
  v.setBigUint64(24, BigInt(l.entryAddress), true);
  v.setBigUint64(32, BigInt(EHDR), true);
  v.setBigUint64(40, BigInt(shoff), true);
  v.setUint32(48, 0, true); // e_flags 0: SBPFv0
  v.setUint16(52, EHDR, true);
  v.setUint16(54, PHDR, true);
  v.setUint16(56, dynamic ? 3 : 1, true);
  v.setUint16(58, SHDR, true);
  v.setUint16(60, shnum, true);
  v.setUint16(62, shnum - 1, true);

  // Program headers: code and read-only data; then the dynamic linking tables.
  const phdr = (i: number, type: number, flags: number, offset: number, size: number) => {
    const p = EHDR + i * PHDR;
    v.setUint32(p, type, true);
    v.setUint32(p + 4, flags, true);
    v.setBigUint64(p + 8, BigInt(offset), true);
    v.setBigUint64(p + 16, BigInt(offset), true);
    v.setBigUint64(p + 24, BigInt(offset), true);
    v.setBigUint64(p + 32, BigInt(size), true);
    v.setBigUint64(p + 40, BigInt(size), true);
    v.setBigUint64(p + 48, 8n, true);
  };
  phdr(0, PT_LOAD, PF_R | PF_X, l.textStart, l.rodataEnd - l.textStart);
  if (dynamic) {
    phdr(1, PT_LOAD, PF_R, dynamicAt, dynamicEnd - dynamicAt);
    phdr(2, PT_DYNAMIC, PF_R, dynamicAt, dynamicEntries.length * DYN);
  }

  // Section headers, in file order.
  const shdr = (i: number, name: string, type: number, flags: number, offset: number, size: number, o: { link?: number; info?: number; align?: number; entsize?: number } = {}) => {
    const s = shoff + i * SHDR;
    v.setUint32(s, shstr.offsets.get(name)!, true);
    v.setUint32(s + 4, type, true);
    v.setBigUint64(s + 8, BigInt(flags), true);
    v.setBigUint64(s + 16, BigInt(flags & SHF_ALLOC ? offset : 0), true);
    v.setBigUint64(s + 24, BigInt(offset), true);
    v.setBigUint64(s + 32, BigInt(size), true);
    v.setUint32(s + 40, o.link ?? 0, true);
    v.setUint32(s + 44, o.info ?? 0, true);
    v.setBigUint64(s + 48, BigInt(o.align ?? 1), true);
    v.setBigUint64(s + 56, BigInt(o.entsize ?? 0), true);
  };
  let i = 1;
  shdr(i++, '.text', SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, l.textStart, l.textEnd - l.textStart, { align: 8 });
  if (l.rodataEnd > l.rodataStart) shdr(i++, '.rodata', SHT_PROGBITS, SHF_ALLOC, l.rodataStart, l.rodataEnd - l.rodataStart, { align: 8 });
  if (dynamic) {
    const dynsymIndex = i + 1;
    const dynstrIndex = i + 2;
    shdr(i++, '.dynamic', SHT_DYNAMIC, SHF_ALLOC, dynamicAt, dynamicEntries.length * DYN, { link: dynstrIndex, align: 8, entsize: DYN });
    shdr(i++, '.dynsym', SHT_DYNSYM, SHF_ALLOC, dynsymAt, dynsymSize, { link: dynstrIndex, info: 1, align: 8, entsize: SYM });
    shdr(i++, '.dynstr', SHT_STRTAB, SHF_ALLOC, dynstrAt, dynstr.bytes.length);
    shdr(i++, '.rel.dyn', SHT_REL, SHF_ALLOC, relAt, relSize, { link: dynsymIndex, align: 8, entsize: REL });
  }
  shdr(i++, '.shstrtab', SHT_STRTAB, 0, shstrAt, shstr.bytes.length);
  return out;
}

/** A string table holding each name once (the empty name at 0). */
function strings(names: string[]): { bytes: Uint8Array; offsets: Map<string, number> } {
  const offsets = new Map<string, number>();
  const parts: number[] = [];
  for (const name of names) {
    if (offsets.has(name)) continue;
    offsets.set(name, parts.length);
    for (const b of new TextEncoder().encode(name)) parts.push(b);
    parts.push(0);
  }
  return { bytes: Uint8Array.from(parts), offsets };
}

/** The sections of a linked program, for tests: name → [offset, size, address]. */
export function sectionTable(so: Uint8Array): Map<string, { offset: number; size: number; address: number; type: number; flags: number }> {
  const v = new DataView(so.buffer, so.byteOffset, so.byteLength);
  const shoff = Number(v.getBigUint64(40, true));
  const shnum = v.getUint16(60, true);
  const shstrndx = v.getUint16(62, true);
  const header = (i: number) => {
    const s = shoff + i * SHDR;
    return { nameAt: v.getUint32(s, true), type: v.getUint32(s + 4, true), flags: Number(v.getBigUint64(s + 8, true)), address: Number(v.getBigUint64(s + 16, true)), offset: Number(v.getBigUint64(s + 24, true)), size: Number(v.getBigUint64(s + 32, true)) };
  };
  const names = header(shstrndx);
  const table = new Map<string, { offset: number; size: number; address: number; type: number; flags: number }>();
  for (let i = 1; i < shnum; i++) {
    const h = header(i);
    let end = names.offset + h.nameAt;
    while (so[end] !== 0) end++;
    table.set(new TextDecoder().decode(so.subarray(names.offset + h.nameAt, end)), { offset: h.offset, size: h.size, address: h.address, type: h.type, flags: h.flags });
  }
  return table;
}

