import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { headerPath, IDLS, layoutPath, renderClient, renderHeader, renderLayout, staleFiles } from './clients.ts';

// The generated clients and C headers are committed; each must be what its IDL renders today.
describe('generated program clients', () => {
  for (const { name, idl, constants } of IDLS) {
    it(`programs/${name}/client, ${name}_idl.h and layout.ts are what programs/${name}/idl.ts renders (else: npm run build:clients)`, async () => {
      const rendered = await renderClient(name, idl());
      expect(staleFiles(name, rendered)).toEqual([]);
      expect(readFileSync(headerPath(name), 'utf8')).toBe(renderHeader(name, idl(), constants));
      expect(readFileSync(layoutPath(name), 'utf8')).toBe(renderLayout(name, idl()));
      for (const text of rendered.values()) expect(text.split('\n')[0]).toMatch(/^\/\/ GENERATED from programs\/.+\/idl\.ts/);
    });
  }
});
