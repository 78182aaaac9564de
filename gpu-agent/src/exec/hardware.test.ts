import { describe, expect, it } from 'vitest';
import { detectHardware, parseNvidiaSmiGpus } from './hardware.ts';
import type { RunCommand } from './command.ts';

describe('parsing nvidia-smi', () => {
  it('reads each GPU name and its memory in GiB', () => {
    const text = 'NVIDIA H100 80GB HBM3, 81559\nNVIDIA GeForce RTX 4090, 24564\n\n';
    expect(parseNvidiaSmiGpus(text)).toEqual([
      { name: 'NVIDIA H100 80GB HBM3', memoryGb: 79.6 },
      { name: 'NVIDIA GeForce RTX 4090', memoryGb: 24 },
    ]);
  });

  it('skips lines it cannot read', () => {
    expect(parseNvidiaSmiGpus('No devices were found\nGPU, [N/A]\n')).toEqual([]);
  });
});

describe('detecting hardware', () => {
  it('reports no GPUs and the host CPU when nvidia-smi is absent', async () => {
    const absent: RunCommand = async () => ({ ok: false, reason: 'nvidia-smi not found' });
    const hw = await detectHardware({ run: absent });
    expect(hw.gpus).toEqual([]);
    expect(hw.cores).toBeGreaterThanOrEqual(1);
    expect(hw.memoryGb).toBeGreaterThan(0);
    expect(hw.cpuModel.length).toBeGreaterThan(0);
  });

  it('lists the GPUs nvidia-smi reports', async () => {
    const calls: string[][] = [];
    const smi: RunCommand = async (file, args) => {
      calls.push([file, ...args]);
      return { ok: true, stdout: 'NVIDIA H100 80GB HBM3, 81559\n' };
    };
    const hw = await detectHardware({ run: smi });
    expect(hw.gpus).toEqual([{ name: 'NVIDIA H100 80GB HBM3', memoryGb: 79.6 }]);
    expect(calls[0]).toEqual(['nvidia-smi', '--query-gpu=name,memory.total', '--format=csv,noheader,nounits']);
  });

  it('does not throw on this machine', async () => {
    await expect(detectHardware()).resolves.toMatchObject({ cores: expect.any(Number) });
  });
});
