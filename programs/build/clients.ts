/**
 * Renders each program's Umi client from its Codama IDL (`programs/<name>/idl.ts` →
 * `programs/<name>/client/`, with @codama/renderers-js-umi). The files are generated, committed and
 * never edited by hand: their first line says so, and `clients.test.ts` fails when one is stale.
 *
 *   node --import tsx programs/build/clients.ts [--check]
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderVisitor } from '@codama/renderers-js-umi';
import { createFromRoot, type RootNode, type TypeNode } from 'codama';
import { ESCROW_BOUNDS, escrowIdl } from '../escrow/idl.ts';
import { STAKING_CONSTANTS, stakingIdl } from '../staking/idl.ts';
import { GOVERNANCE_CONSTANTS, governanceIdl } from '../governance/idl.ts';

const here = dirname(fileURLToPath(import.meta.url));
const programsRoot = resolve(here, '..');
const repoRoot = resolve(programsRoot, '..');

/** Every program with an IDL, and the function that builds it. */
export const IDLS: { name: string; idl: () => RootNode; constants: Record<string, number> }[] = [
  { name: 'escrow', idl: escrowIdl, constants: ESCROW_BOUNDS },
  { name: 'staking', idl: stakingIdl, constants: STAKING_CONSTANTS },
  { name: 'governance', idl: governanceIdl, constants: GOVERNANCE_CONSTANTS },
];

export const header = (name: string): string =>
  `// GENERATED from programs/${name}/idl.ts by programs/build/clients.ts (Codama, @codama/renderers-js-umi): do not edit; change the IDL and run npm run build:clients.\n`;

function walk(dir: string, base = dir): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .flatMap((entry) => {
      const path = join(dir, entry);
      return statSync(path).isDirectory() ? walk(path, base) : [relative(base, path)];
    })
    .sort();
}

/** The generated client of one program: relative path → file text. */
export async function renderClient(name: string, idl: RootNode): Promise<Map<string, string>> {
  const dir = mkdtempSync(join(tmpdir(), `doug-client-${name}-`));
  try {
    await createFromRoot(idl).accept(renderVisitor(dir, { deleteFolderBeforeRendering: true, formatCode: true }));
    return new Map(walk(dir).map((file) => [file, header(name) + readFileSync(join(dir, file), 'utf8')]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const clientDir = (name: string): string => join(programsRoot, name, 'client');

const SCREAMING = (camel: string): string => camel.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

/** Bytes of a fixed-size type, or null for a variable-size one. */
function fixedSize(type: TypeNode): number | null {
  if (type.kind === 'numberTypeNode') return { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, u64: 8, i64: 8, u128: 16, i128: 16, f32: 4, f64: 8, shortU16: null }[type.format] ?? null;
  if (type.kind === 'publicKeyTypeNode') return 32;
  if (type.kind === 'fixedSizeTypeNode') return type.size;
  return null;
}

/**
 * The C header a program includes (`programs/<name>/<name>_idl.h`), so that the C code and the
 * clients share one description: instruction numbers, account kinds, sizes and field offsets,
 * instruction data offsets (up to the first variable-size argument) and error codes. Instruction and
 * error names carry the program's name (ESCROW_IX_SETTLE, STAKING_ERR_OVERFLOW), so that a program
 * calling another includes both headers.
 */
export function renderHeader(name: string, idl: RootNode, constants: Record<string, number> = {}): string {
  const program = idl.program;
  const prefix = SCREAMING(name);
  const guard = `DOUG_${prefix}_IDL_H`;
  const lines = [header(name).replace('// ', '/* ').replace(/\n$/, ' */'), `#ifndef ${guard}`, `#define ${guard}`, ''];
  lines.push('/* Instructions: the first byte of the data, then the arguments at these offsets. */');
  for (const ix of program.instructions) {
    const base = `${prefix}_IX_${SCREAMING(ix.name)}`;
    let offset = 0;
    for (const a of ix.arguments) {
      if (a.name === 'discriminator') {
        const value = a.defaultValue?.kind === 'numberValueNode' ? a.defaultValue.number : null;
        lines.push(`#define ${base} ${value}`);
      } else lines.push(`#define ${base}_${SCREAMING(a.name)}_AT ${offset}`);
      const size = fixedSize(a.type);
      if (size === null) break;
      offset += size;
    }
    if (ix.arguments.every((a) => fixedSize(a.type) !== null)) lines.push(`#define ${base}_DATA_LEN ${offset}`);
    lines.push(`#define ${base}_ACCOUNTS ${ix.accounts.length}`);
    ix.accounts.forEach((acc, i) => lines.push(`#define ${base}_${SCREAMING(acc.name)} ${i}`));
  }
  lines.push('', '/* Accounts: kind (first byte), size and field offsets. */');
  for (const account of program.accounts) {
    const base = SCREAMING(account.name);
    if (account.data.kind !== 'structTypeNode') continue;
    let offset = 0;
    for (const field of account.data.fields) {
      if (field.name === 'discriminator' && field.defaultValue?.kind === 'numberValueNode') lines.push(`#define ${base}_KIND ${field.defaultValue.number}`);
      lines.push(`#define ${base}_${SCREAMING(field.name)}_AT ${offset}`);
      offset += fixedSize(field.type) ?? NaN;
    }
    if (account.size !== undefined && account.size !== null && account.size !== offset) throw new Error(`${name}: account ${account.name} declares ${account.size} bytes but its fields take ${offset}`);
    lines.push(`#define ${base}_SIZE ${offset}`);
  }
  lines.push('', '/* Bounds and constants. */');
  for (const [key, value] of Object.entries(constants)) lines.push(`#define ${key} ${value}`);
  lines.push('', '/* Errors (ProgramError::Custom). */');
  for (const e of program.errors) lines.push(`#define ${prefix}_ERR_${SCREAMING(e.name)} ${e.code}`);
  lines.push('', '#endif', '');
  return lines.join('\n');
}

export const headerPath = (name: string): string => join(programsRoot, name, `${name}_idl.h`);

/**
 * The accounts' layouts for code that reads accounts without the Umi client (the Worker, the
 * portal): `programs/<name>/layout.ts`, each account's kind, size and field offsets, from the IDL.
 */
export function renderLayout(name: string, idl: RootNode): string {
  const lines = [header(name).trimEnd(), '', '/** Each account of the program: its kind (first byte), size and field byte offsets. */', `export const ${SCREAMING(name)}_LAYOUT = {`];
  for (const account of idl.program.accounts) {
    if (account.data.kind !== 'structTypeNode') continue;
    let offset = 0;
    let kind: number | null = null;
    const fields: string[] = [];
    for (const f of account.data.fields) {
      if (f.name === 'discriminator' && f.defaultValue?.kind === 'numberValueNode') kind = f.defaultValue.number;
      else fields.push(`${f.name}: ${offset}`);
      offset += fixedSize(f.type) ?? NaN;
    }
    lines.push(`  ${account.name}: { kind: ${kind}, size: ${offset}, at: { ${fields.join(', ')} } },`);
  }
  lines.push('} as const;', '');
  return lines.join('\n');
}

export const layoutPath = (name: string): string => join(programsRoot, name, 'layout.ts');

/** Files that differ between the rendered client and the committed one (added, changed or removed). */
export function staleFiles(name: string, rendered: Map<string, string>): string[] {
  const dir = clientDir(name);
  const committed = walk(dir);
  const stale = [...rendered].filter(([file, text]) => !existsSync(join(dir, file)) || readFileSync(join(dir, file), 'utf8') !== text).map(([file]) => file);
  return [...stale, ...committed.filter((file) => !rendered.has(file))].map((file) => relative(repoRoot, join(dir, file)));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check');
  const stale: string[] = [];
  for (const { name, idl, constants } of IDLS) {
    const rendered = await renderClient(name, idl());
    const files = staleFiles(name, rendered);
    const cHeader = renderHeader(name, idl(), constants);
    const headerStale = !existsSync(headerPath(name)) || readFileSync(headerPath(name), 'utf8') !== cHeader;
    if (headerStale) files.push(relative(repoRoot, headerPath(name)));
    if (!check && headerStale) writeFileSync(headerPath(name), cHeader);
    const layout = renderLayout(name, idl());
    const layoutStale = !existsSync(layoutPath(name)) || readFileSync(layoutPath(name), 'utf8') !== layout;
    if (layoutStale) files.push(relative(repoRoot, layoutPath(name)));
    if (!check && layoutStale) writeFileSync(layoutPath(name), layout);
    if (check) {
      stale.push(...files);
      continue;
    }
    const dir = clientDir(name);
    rmSync(dir, { recursive: true, force: true });
    for (const [file, text] of rendered) {
      mkdirSync(dirname(join(dir, file)), { recursive: true });
      writeFileSync(join(dir, file), text);
    }
    console.log(`${files.length === 0 ? 'unchanged' : 'rendered'} programs/${name}/client (${rendered.size} files)`);
  }
  if (stale.length > 0) {
    console.error(`stale generated clients: ${stale.join(', ')} (run npm run build:clients and commit)`);
    process.exit(1);
  }
}
