import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { RuntimeFingerprint } from '../../../durable-objects/contracts/agent.ts';
import { buildAddModel } from '../../models/build.ts';
import { runCommand, type RunCommand } from './command.ts';

export type ExecutionProvider = RuntimeFingerprint['executionProvider'];

/**
 * CPU flags that change which kernels onnxruntime (MLAS) picks, and so the bits of float results:
 * x86 SIMD levels and ARM's NEON extensions. Everything else in /proc/cpuinfo is noise here.
 */
export const RELEVANT_CPU_FEATURES: readonly string[] = [
  'sse4_1', 'sse4_2', 'avx', 'avx2', 'fma', 'f16c',
  'avx512f', 'avx512bw', 'avx512dq', 'avx512vl', 'avx512_vnni', 'avx512_bf16', 'avx512_fp16', 'avx_vnni',
  'amx_tile', 'amx_int8', 'amx_bf16',
  'neon', 'asimd', 'asimdhp', 'asimddp', 'fphp', 'i8mm', 'bf16', 'sve', 'sve2',
];

export interface RuntimeProbe {
  fingerprint: RuntimeFingerprint;
  executionProvider: ExecutionProvider;
  /** One line saying which provider was chosen and why. */
  log: string;
}

export interface ProbeOptions {
  /** Runs nvidia-smi (injectable for tests). */
  run?: RunCommand;
  /** The text of /proc/cpuinfo (injectable for tests); read from disk when omitted. */
  cpuinfo?: string;
  /** Builds and runs a CUDA session on the tiny model, throwing when CUDA is unusable (injectable for tests). */
  cudaCheck?: () => Promise<void>;
}

/**
 * Picks the execution provider: CUDA only when nvidia-smi answers and a CUDA session on the tiny
 * model builds and runs; otherwise CPU. Asking onnxruntime for CUDA without its CUDA libraries
 * throws, which is the expected fallback path, not an error.
 */
export async function probeRuntime(o: ProbeOptions = {}): Promise<RuntimeProbe> {
  const run = o.run ?? runCommand;
  const cpuFeatures = cpuFeaturesFrom(o.cpuinfo ?? (await readFile('/proc/cpuinfo', 'utf8').catch(() => '')));
  const base = { onnxruntime: onnxruntimeVersion(), platform: process.platform, arch: process.arch, cpuFeatures };
  const smi = await run('nvidia-smi', ['-L']);
  if (!smi.ok) return cpu(base, `execution provider: cpu (no NVIDIA GPU: ${smi.reason})`);
  const gpu = smi.stdout.split('\n')[0]?.trim() ?? 'GPU';
  try {
    await (o.cudaCheck ?? tryCuda)();
    return { fingerprint: { ...base, executionProvider: 'cuda' }, executionProvider: 'cuda', log: `execution provider: cuda (${gpu})` };
  } catch (e) {
    const reason = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    return cpu(base, `execution provider: cpu (nvidia-smi sees ${gpu} but onnxruntime's CUDA provider failed: ${reason})`);
  }
}

function cpu(base: Omit<RuntimeFingerprint, 'executionProvider'>, log: string): RuntimeProbe {
  return { fingerprint: { ...base, executionProvider: 'cpu' }, executionProvider: 'cpu', log };
}

/** Builds a CUDA session on the tiny model and checks one run; throws when CUDA is unusable. */
export async function tryCuda(): Promise<void> {
  const missing = missingCudaLibrary();
  if (missing) throw new Error(`onnxruntime-node has no ${missing} (installed with ONNXRUNTIME_NODE_INSTALL=skip?)`);
  // logSeverityLevel 4 (fatal): the failed provider load is reported through our log line instead.
  const session = await ort.InferenceSession.create(buildAddModel(), { executionProviders: ['cuda'], logSeverityLevel: 4 });
  try {
    const out = await session.run({ x: new ort.Tensor('float32', new Float32Array([1, 2]), [2]) });
    const y = out.y?.data;
    if (!(y instanceof Float32Array) || y[0] !== 2 || y[1] !== 3) throw new Error('the CUDA session computed a wrong result');
  } finally {
    await session.release();
  }
}

/**
 * onnxruntime-node's install script downloads the CUDA provider next to the binding; without it
 * a CUDA session fails after printing a native error, so look first. Null when present or unknown.
 */
function missingCudaLibrary(): string | null {
  const file = process.platform === 'linux' ? 'libonnxruntime_providers_cuda.so' : process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : null;
  if (!file) return null;
  try {
    const root = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
    return existsSync(join(root, 'bin', 'napi-v6', process.platform, process.arch, file)) ? null : file;
  } catch {
    return null;
  }
}

/** The relevant SIMD flags of /proc/cpuinfo (x86 `flags`, ARM `Features`), sorted and unique. */
export function cpuFeaturesFrom(cpuinfo: string): string[] {
  const line = cpuinfo.split('\n').find((l) => /^(flags|Features)\s*:/.test(l));
  if (!line) return [];
  const have = new Set(line.slice(line.indexOf(':') + 1).trim().split(/\s+/));
  if (have.has('asimd')) have.add('neon');
  return RELEVANT_CPU_FEATURES.filter((f) => have.has(f)).sort();
}

/** The onnxruntime version in use: from the runtime itself, else from its package.json. */
export function onnxruntimeVersion(): string {
  const v = ort.env.versions as { node?: string; common?: string };
  if (v.node) return v.node;
  try {
    return (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;
  } catch {
    return v.common ?? 'unknown';
  }
}
