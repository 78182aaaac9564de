import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { ChatManifestSchema, manifestProblem, manifestSha256, type ChatManifest } from './chat.ts';

const MANIFEST: ChatManifest = {
  name: 'm',
  vocab: 64,
  embed: 32,
  heads: 4,
  layers: 3,
  maxPositions: 128,
  endTokens: [63],
  tokenizerSha256: 'a'.repeat(64),
  stages: [
    { from: 0, to: 1, sha256: 'b'.repeat(64) },
    { from: 2, to: 2, sha256: 'c'.repeat(64) },
  ],
};

describe('a chat manifest', () => {
  it('hangs together: heads divide the width, stages cover the layers in order, end tokens are in the vocabulary', () => {
    expect(manifestProblem(MANIFEST)).toBeNull();
    expect(manifestProblem({ ...MANIFEST, heads: 5 })).toMatch(/multiple of heads/);
    expect(manifestProblem({ ...MANIFEST, stages: [MANIFEST.stages[1]!, MANIFEST.stages[0]!] })).toMatch(/consecutive/);
    expect(manifestProblem({ ...MANIFEST, stages: [MANIFEST.stages[0]!] })).toMatch(/cover layers 0 to 2/);
    expect(manifestProblem({ ...MANIFEST, endTokens: [64] })).toMatch(/within the vocabulary/);
  });

  it('names the cache’s heads only where fewer than the query heads, and dividing them (grouped-query attention)', async () => {
    expect(manifestProblem({ ...MANIFEST, kvHeads: 2 })).toBeNull();
    expect(manifestProblem({ ...MANIFEST, kvHeads: 1 })).toBeNull();
    for (const kvHeads of [4, 3, 8]) expect(manifestProblem({ ...MANIFEST, kvHeads }), String(kvHeads)).toMatch(/kvHeads must be fewer than heads and divide them/);
    expect(v.safeParse(ChatManifestSchema, { ...MANIFEST, kvHeads: 2 }).success).toBe(true);
    expect(v.safeParse(ChatManifestSchema, { ...MANIFEST, kvHeads: 0 }).success).toBe(false);
    // Absent, the hash is the one a manifest had before the field existed.
    expect(await manifestSha256({ ...MANIFEST, kvHeads: undefined })).toBe(await manifestSha256(MANIFEST));
    expect(await manifestSha256({ ...MANIFEST, kvHeads: 2 })).not.toBe(await manifestSha256(MANIFEST));
  });
});
