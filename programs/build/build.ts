/**
 * Builds the on-chain programs: each `programs/<name>/<name>.c` → `programs/<name>/<name>.so`, with
 * Debian's clang (BPF backend) and our linker (link.ts). Also rebuilds the linker's test objects
 * (`programs/build/fixtures/*.c` → `*.o`). Built files are committed, so `npm install && npm test`
 * needs no compiler; CI runs `--check`, which rebuilds everything and fails if any output differs by
 * one byte from what is committed.
 *
 *   node --import tsx programs/build/build.ts [--check]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { link, LinkError } from './link.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const programsRoot = resolve(here, '..');
const repoRoot = resolve(programsRoot, '..');

/**
 * clang for SBPFv0: `-mcpu=v2` (v3's 32-bit jumps are refused by the loader), no libc, no builtins
 * (a builtin memcpy would become a call that cannot link), warnings are errors.
 */
export const CLANG_FLAGS = ['-target', 'bpf', '-mcpu=v2', '-O2', '-ffreestanding', '-fno-builtin', '-std=c11', '-Wall', '-Wextra', '-Werror'];

export interface Target {
  source: string;
  output: string;
  kind: 'program' | 'fixture';
}

/** Every C source this build compiles, and where its output goes. */
export function targets(): Target[] {
  const list: Target[] = [];
  for (const entry of readdirSync(programsRoot, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const source = join(programsRoot, entry.name, `${entry.name}.c`);
    if (existsSync(source)) list.push({ source, output: join(programsRoot, entry.name, `${entry.name}.so`), kind: 'program' });
  }
  const fixtures = join(here, 'fixtures');
  for (const name of readdirSync(fixtures).sort()) {
    if (name.endsWith('.c')) list.push({ source: join(fixtures, name), output: join(fixtures, name.replace(/\.c$/, '.o')), kind: 'fixture' });
  }
  return list.sort((a, b) => a.source.localeCompare(b.source));
}

/** Compiles one C file to a BPF object (bytes); throws with clang's message on failure. */
export function compile(source: string, clang = process.env.CLANG ?? 'clang'): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'doug-bpf-'));
  const out = join(dir, `${basename(source, '.c')}.o`);
  try {
    execFileSync(clang, [...CLANG_FLAGS, '-I', join(programsRoot, 'include'), '-c', source, '-o', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    return new Uint8Array(readFileSync(out));
  } catch (error) {
    const e = error as { code?: string; stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error(`${clang} not found: install Debian's clang, lld and llvm (apt-get install clang lld llvm) to build programs`);
    throw new Error(`clang failed on ${relative(repoRoot, source)}:\n${e.stderr?.toString() ?? String(error)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The bytes a target's output should hold. */
export function buildTarget(t: Target): Uint8Array {
  const object = compile(t.source);
  if (t.kind === 'fixture') return object;
  try {
    return link(object).so;
  } catch (error) {
    if (error instanceof LinkError) throw new Error(`linking ${relative(repoRoot, t.source)}: ${error.message}`);
    throw error;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check');
  const stale: string[] = [];
  for (const t of targets()) {
    const bytes = buildTarget(t);
    const name = relative(repoRoot, t.output);
    const committed = existsSync(t.output) ? new Uint8Array(readFileSync(t.output)) : null;
    const same = committed !== null && committed.length === bytes.length && committed.every((b, i) => b === bytes[i]);
    if (check) {
      if (!same) stale.push(name);
      continue;
    }
    if (!same) writeFileSync(t.output, bytes);
    console.log(`${same ? 'unchanged' : 'built'} ${name} (${bytes.length} bytes)`);
  }
  if (stale.length > 0) {
    console.error(`programs: rebuilt output differs from the committed file: ${stale.join(', ')} (run npm run build:programs and commit)`);
    process.exit(1);
  }
  if (check) console.log(`programs: ${targets().length} outputs rebuilt byte-identical`);
}
