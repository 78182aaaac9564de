/// <reference types="vite/client" />
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import readme from '../../README.md?raw';
import { openApiDocument, openApiPath } from '../../durable-objects/contracts/openapi.ts';
import { BASE, rawRequest } from './helpers.ts';

type Doc = { openapi: string; paths: Record<string, Record<string, { security?: unknown[]; requestBody?: unknown }>> };

/** The rows of README.md's "## API" table: method and path, without a query string. */
function readmeRoutes(): { method: string; path: string; signed: boolean }[] {
  const section = readme.slice(readme.indexOf('## API'), readme.indexOf('\n## ', readme.indexOf('## API') + 1));
  return [...section.matchAll(/^\| (GET|POST|PUT|DELETE) \| `([^`]+)` \| ([^|]*)\|/gm)].map((m) => ({
    method: m[1]!.toLowerCase(),
    path: m[2]!.split('?')[0]!,
    signed: m[3]!.trim().startsWith('yes'),
  }));
}

async function document(): Promise<Doc> {
  const res = await SELF.fetch(`${BASE}/v1/openapi.json`);
  expect(res.status).toBe(200);
  return (await res.json()) as Doc;
}

describe('GET /v1/openapi.json', () => {
  // The validator reads its meta-schemas from disk and compiles them with `new Function`, neither of
  // which workerd allows: durable-objects/contracts/openapi.test.ts validates the same document in Node.
  it('is the contracts\' document, which the Node spec validates as OpenAPI 3.1', async () => {
    const doc = await document();
    expect(doc.openapi).toBe('3.1.0');
    expect(doc).toEqual(openApiDocument(BASE));
  });

  it('has every route of the README with its signing, and the README every route it has', async () => {
    const doc = await document();
    const rows = readmeRoutes();
    expect(rows.length).toBeGreaterThan(30);
    for (const row of rows) {
      const op = doc.paths[openApiPath(row.path)]?.[row.method];
      expect(op, `${row.method.toUpperCase()} ${row.path}`).toBeDefined();
      expect(op!.security !== undefined, `${row.method.toUpperCase()} ${row.path} signed`).toBe(row.signed);
    }
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`));
    expect(documented.sort()).toEqual(rows.map((r) => `${r.method} ${openApiPath(r.path)}`).sort());
  });

  it('names no route the Worker does not serve', async () => {
    const doc = await document();
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) {
        const concrete = path.replace(/\{[^}]+\}/g, 'x');
        const res = await rawRequest({ method: method.toUpperCase(), path: concrete });
        expect(res.body.error?.code, `${method} ${path}`).not.toBe('API__NOT_FOUND');
      }
    }
  });
});
