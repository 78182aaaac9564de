import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { headerPath, IDLS, renderClient, renderHeader, staleFiles } from './clients.ts';

// The generated clients and C headers are committed; each must be what its IDL renders today.
describe('generated program clients', () => {
  for (const { name, idl, constants } of IDLS) {
    it(`programs/${name}/client and ${name}_idl.h are what programs/${name}/idl.ts renders (else: npm run build:clients)`, async () => {
      const rendered = await renderClient(name, idl());
      expect(staleFiles(name, rendered)).toEqual([]);
      expect(readFileSync(headerPath(name), 'utf8')).toBe(renderHeader(name, idl(), constants));
      for (const text of rendered.values()) expect(text.split('\n')[0]).toMatch(/^\/\/ GENERATED from programs\/.+\/idl\.ts/);
    });
  }
});
