/**
 * Reading a BPF relocatable object (what `clang -target bpf -c` writes): its sections, symbols and
 * relocations, as the linker (link.ts) needs them. Only ELF64 little-endian EM_BPF ET_REL files.
 */

export const EM_BPF = 247;
export const ET_REL = 1;
export const ET_DYN = 3;

export const SHT_NULL = 0;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_DYNAMIC = 6;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;
export const SHT_DYNSYM = 11;

export const SHF_WRITE = 0x1;
export const SHF_ALLOC = 0x2;
export const SHF_EXECINSTR = 0x4;

export const STT_NOTYPE = 0;
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_SECTION = 3;
export const STB_GLOBAL = 1;
export const SHN_UNDEF = 0;

/** BPF relocation types in an object: a 64-bit address in an lddw, and a call's 32-bit immediate. */
export const R_BPF_64_64 = 1;
export const R_BPF_64_32 = 10;
/** A 64-bit address stored in data (a pointer in a const table). */
export const R_BPF_64_ABS64 = 2;

export class ElfFormatError extends Error {
  override readonly name = 'ElfFormatError';
}

export interface Section {
  index: number;
  name: string;
  type: number;
  flags: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  align: number;
  entsize: number;
  /** The section's bytes (empty for SHT_NOBITS). */
  data: Uint8Array;
}

export interface ElfSymbol {
  name: string;
  type: number;
  bind: number;
  /** Section index; SHN_UNDEF for an external (a syscall). */
  shndx: number;
  value: number;
  size: number;
}

export interface Relocation {
  /** Offset of the patched instruction inside the section the relocations apply to. */
  offset: number;
  type: number;
  symbol: number;
}

export interface ObjectFile {
  sections: Section[];
  symbols: ElfSymbol[];
  /** Relocations by the index of the section they patch. */
  relocations: Map<number, Relocation[]>;
}

function cString(bytes: Uint8Array, at: number): string {
  let end = at;
  while (end < bytes.length && bytes[end] !== 0) end++;
  if (end >= bytes.length) throw new ElfFormatError(`string at ${at} runs past its table`);
  return new TextDecoder().decode(bytes.subarray(at, end));
}

function slice(bytes: Uint8Array, offset: number, size: number, what: string): Uint8Array {
  if (offset < 0 || size < 0 || offset + size > bytes.length) throw new ElfFormatError(`${what} lies outside the file (${offset}+${size} > ${bytes.length})`);
  return bytes.subarray(offset, offset + size);
}

/** Parses a BPF relocatable object. */
export function readObject(bytes: Uint8Array): ObjectFile {
  if (bytes.length < 64 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) throw new ElfFormatError('not an ELF file');
  if (bytes[4] !== 2 || bytes[5] !== 1) throw new ElfFormatError('not a 64-bit little-endian ELF file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = view.getUint16(16, true);
  const machine = view.getUint16(18, true);
  if (machine !== EM_BPF) throw new ElfFormatError(`machine ${machine} is not BPF (${EM_BPF})`);
  if (type !== ET_REL) throw new ElfFormatError(`ELF type ${type} is not a relocatable object`);
  const shoff = Number(view.getBigUint64(40, true));
  const shentsize = view.getUint16(58, true);
  const shnum = view.getUint16(60, true);
  const shstrndx = view.getUint16(62, true);
  if (shentsize !== 64) throw new ElfFormatError(`section header size ${shentsize} is not 64`);
  slice(bytes, shoff, shnum * 64, 'the section header table');

  const raw = Array.from({ length: shnum }, (_, index) => {
    const at = shoff + index * 64;
    const offset = Number(view.getBigUint64(at + 24, true));
    const size = Number(view.getBigUint64(at + 32, true));
    const sectionType = view.getUint32(at + 4, true);
    return {
      index,
      nameAt: view.getUint32(at, true),
      type: sectionType,
      flags: Number(view.getBigUint64(at + 8, true)),
      offset,
      size,
      link: view.getUint32(at + 40, true),
      info: view.getUint32(at + 44, true),
      align: Number(view.getBigUint64(at + 48, true)),
      entsize: Number(view.getBigUint64(at + 56, true)),
      data: sectionType === SHT_NOBITS || sectionType === SHT_NULL ? new Uint8Array(0) : slice(bytes, offset, size, `section ${index}`),
    };
  });
  const names = raw[shstrndx];
  if (!names || names.type !== SHT_STRTAB) throw new ElfFormatError('no section name table');
  const sections: Section[] = raw.map(({ nameAt, ...s }) => ({ ...s, name: cString(names.data, nameAt) }));

  const symtab = sections.find((s) => s.type === SHT_SYMTAB);
  const symbols: ElfSymbol[] = [];
  if (symtab) {
    const strtab = sections[symtab.link];
    if (!strtab || strtab.type !== SHT_STRTAB) throw new ElfFormatError('the symbol table names no string table');
    const sv = new DataView(symtab.data.buffer, symtab.data.byteOffset, symtab.data.byteLength);
    for (let at = 0; at + 24 <= symtab.data.length; at += 24) {
      const info = sv.getUint8(at + 4);
      symbols.push({
        name: cString(strtab.data, sv.getUint32(at, true)),
        type: info & 0xf,
        bind: info >> 4,
        shndx: sv.getUint16(at + 6, true),
        value: Number(sv.getBigUint64(at + 8, true)),
        size: Number(sv.getBigUint64(at + 16, true)),
      });
    }
  }

  const relocations = new Map<number, Relocation[]>();
  for (const s of sections) {
    if (s.type !== SHT_REL) continue;
    const rv = new DataView(s.data.buffer, s.data.byteOffset, s.data.byteLength);
    const list: Relocation[] = [];
    for (let at = 0; at + 16 <= s.data.length; at += 16) {
      const info = rv.getBigUint64(at + 8, true);
      list.push({ offset: Number(rv.getBigUint64(at, true)), type: Number(info & 0xffffffffn), symbol: Number(info >> 32n) });
    }
    relocations.set(s.info, list);
  }
  return { sections, symbols, relocations };
}
