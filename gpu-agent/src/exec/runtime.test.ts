import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fingerprintOf } from '../../../durable-objects/contracts/agent.ts';
import { cpuFeaturesFrom, probeRuntime } from './runtime.ts';
import type { RunCommand } from './command.ts';

const X86 = 'processor\t: 0\nflags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 avx512f avx512bw avx512_vnni popcnt aes\n';
const ARM = 'processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 asimdhp asimddp sve i8mm bf16\n';

const noGpu: RunCommand = async () => ({ ok: false, reason: 'nvidia-smi not found' });
const gpu: RunCommand = async () => ({ ok: true, stdout: 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0)\n' });

describe('CPU features', () => {
  it('keeps the SIMD flags that pick kernels, sorted', () => {
    expect(cpuFeaturesFrom(X86)).toEqual(['avx', 'avx2', 'avx512_vnni', 'avx512bw', 'avx512f', 'f16c', 'fma', 'sse4_1', 'sse4_2']);
  });

  it('reads ARM Features and names asimd as neon too', () => {
    expect(cpuFeaturesFrom(ARM)).toEqual(['asimd', 'asimddp', 'asimdhp', 'bf16', 'i8mm', 'neon', 'sve']);
  });

  it('is empty without a cpuinfo', () => {
    expect(cpuFeaturesFrom('')).toEqual([]);
  });
});

describe('probing the runtime', () => {
  it('uses the CPU and says why when nvidia-smi is absent', async () => {
    let cudaTried = false;
    const probe = await probeRuntime({ run: noGpu, cpuinfo: X86, cudaCheck: async () => { cudaTried = true; } });
    expect(probe.executionProvider).toBe('cpu');
    expect(probe.fingerprint).toMatchObject({ executionProvider: 'cpu', onnxruntime: '1.30.0', platform: process.platform, arch: process.arch });
    expect(probe.log).toBe('execution provider: cpu (no NVIDIA GPU: nvidia-smi not found)');
    expect(cudaTried).toBe(false);
  });

  it('uses CUDA when nvidia-smi answers and a CUDA session works', async () => {
    const probe = await probeRuntime({ run: gpu, cpuinfo: X86, cudaCheck: async () => undefined });
    expect(probe.executionProvider).toBe('cuda');
    expect(probe.fingerprint.executionProvider).toBe('cuda');
    expect(probe.log).toContain('NVIDIA H100');
  });

  it('falls back to the CPU with the reason when the CUDA session throws', async () => {
    const probe = await probeRuntime({ run: gpu, cpuinfo: X86, cudaCheck: async () => { throw new Error('Failed to load shared library\nmore'); } });
    expect(probe.executionProvider).toBe('cpu');
    expect(probe.log).toBe("execution provider: cpu (nvidia-smi sees GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0) but onnxruntime's CUDA provider failed: Failed to load shared library)");
  });

  const binDir = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
  const cudaLibs = existsSync(join(binDir, 'bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so'));
  it.skipIf(cudaLibs)('falls back to the CPU through the real CUDA check when onnxruntime has no CUDA libraries', async () => {
    const probe = await probeRuntime({ run: gpu });
    expect(probe.executionProvider).toBe('cpu');
    expect(probe.log).toContain("CUDA provider failed: onnxruntime-node has no libonnxruntime_providers_cuda.so");
  });

  it('gives a fingerprint string naming runtime, provider, platform and features', async () => {
    const probe = await probeRuntime({ run: noGpu, cpuinfo: X86 });
    expect(fingerprintOf(probe.fingerprint)).toBe(`ort-1.30.0/cpu/${process.platform}/${process.arch}/avx+avx2+avx512_vnni+avx512bw+avx512f+f16c+fma+sse4_1+sse4_2`);
  });
});
