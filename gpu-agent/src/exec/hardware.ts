import os from 'node:os';
import type { Hardware } from '../../../durable-objects/contracts/agent.ts';
import { runCommand, type RunCommand } from './command.ts';

const GIB = 1024 ** 3;

/** What this machine has: CPU model, cores, memory, and NVIDIA GPUs when nvidia-smi answers. Never throws. */
export async function detectHardware(o: { run?: RunCommand } = {}): Promise<Hardware> {
  const run = o.run ?? runCommand;
  const cpus = os.cpus();
  const smi = await run('nvidia-smi', ['--query-gpu=name,memory.total', '--format=csv,noheader,nounits']);
  return {
    cpuModel: cpus[0]?.model.trim() || 'unknown',
    cores: typeof os.availableParallelism === 'function' ? os.availableParallelism() : Math.max(1, cpus.length),
    memoryGb: round1(os.totalmem() / GIB),
    gpus: smi.ok ? parseNvidiaSmiGpus(smi.stdout) : [],
  };
}

/** Parses `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits` (memory in MiB). */
export function parseNvidiaSmiGpus(text: string): Hardware['gpus'] {
  const gpus: Hardware['gpus'] = [];
  for (const line of text.split('\n')) {
    const comma = line.lastIndexOf(',');
    if (comma < 0) continue;
    const name = line.slice(0, comma).trim();
    const mib = Number(line.slice(comma + 1).trim());
    if (name.length === 0 || !Number.isFinite(mib)) continue;
    gpus.push({ name, memoryGb: round1(mib / 1024) });
  }
  return gpus;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
