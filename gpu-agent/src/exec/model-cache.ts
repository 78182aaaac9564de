import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentExecError, isAgentExecError } from './errors.ts';

/** Fetches a model's bytes by content address (from the market's model URL, a peer, a fixture). */
export type FetchModel = (sha256: string) => Promise<Uint8Array>;

const SHA256_HEX = /^[0-9a-f]{64}$/;
const DEFAULT_MAX_BYTES = 2 * 1024 ** 3;

/**
 * A content-addressed model cache on disk: `<dir>/<sha256>.onnx`. A file is only ever created
 * by renaming a fully written temp file whose SHA-256 was checked, so a file present under its
 * hash is trusted without re-hashing. Bytes that do not hash to the asked-for address are refused
 * and never written.
 */
export class ModelCache {
  private readonly inFlight = new Map<string, Promise<string>>();

  constructor(
    readonly dir: string,
    private readonly fetchModel: FetchModel,
    readonly maxBytes: number = DEFAULT_MAX_BYTES,
  ) {}

  /** The local path of model `sha256`, downloading and verifying it first if needed. */
  get(sha256: string): Promise<string> {
    if (!SHA256_HEX.test(sha256)) return Promise.reject(new AgentExecError('AGENT__MODEL_UNAVAILABLE', { sha256, reason: 'not a lowercase hex SHA-256' }));
    const pending = this.inFlight.get(sha256);
    if (pending) return pending;
    const p = this.load(sha256).finally(() => this.inFlight.delete(sha256));
    this.inFlight.set(sha256, p);
    return p;
  }

  /** Stores bytes the agent already holds (a bundled model); returns their address and path. */
  async put(bytes: Uint8Array): Promise<{ sha256: string; path: string }> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    this.checkSize(sha256, bytes.byteLength);
    const path = this.pathOf(sha256);
    if (!(await exists(path))) await this.writeAtomically(path, bytes);
    return { sha256, path };
  }

  /** Whether model `sha256` is on disk. */
  has(sha256: string): Promise<boolean> {
    return SHA256_HEX.test(sha256) ? exists(this.pathOf(sha256)) : Promise.resolve(false);
  }

  /** Where model `sha256` lives (or will). */
  pathOf(sha256: string): string {
    return join(this.dir, `${sha256}.onnx`);
  }

  private async load(sha256: string): Promise<string> {
    const path = this.pathOf(sha256);
    if (await exists(path)) return path;
    let bytes: Uint8Array;
    try {
      bytes = await this.fetchModel(sha256);
    } catch (e) {
      if (isAgentExecError(e)) throw e;
      throw new AgentExecError('AGENT__MODEL_UNAVAILABLE', { sha256, reason: e instanceof Error ? e.message : String(e) });
    }
    this.checkSize(sha256, bytes.byteLength);
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== sha256) throw new AgentExecError('AGENT__MODEL_HASH_MISMATCH', { expected: sha256, actual });
    await this.writeAtomically(path, bytes);
    return path;
  }

  private checkSize(sha256: string, bytes: number): void {
    if (bytes > this.maxBytes) throw new AgentExecError('AGENT__MODEL_TOO_LARGE', { sha256, bytes, limit: this.maxBytes });
  }

  private async writeAtomically(path: string, bytes: Uint8Array): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    // Temp name unique per process and call, in the same folder so rename is atomic.
    const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(tmp, bytes, { flag: 'wx' });
      await rename(tmp, path);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
