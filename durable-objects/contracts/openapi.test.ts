import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { ROUTES } from './api.ts';
import { openApiDocument, openApiPath } from './openapi.ts';

type Operation = { requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown>; additionalProperties?: boolean } }> }; parameters?: { name: string; in: string }[]; security?: unknown[] };
const doc = openApiDocument('http://localhost:8787') as { paths: Record<string, Record<string, Operation>> };
const op = (route: string): Operation => {
  const [method, path] = route.split(' ') as [string, string];
  return doc.paths[openApiPath(path)]![method.toLowerCase()]!;
};

describe('the OpenAPI document', () => {
  it('validates as OpenAPI 3.1', async () => {
    const validator = new Validator();
    const result = await validator.validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect([result.valid, validator.version]).toEqual([true, '3.1']);
  });

  it('takes request bodies from the schemas, unknown fields refused', () => {
    const bid = op(ROUTES.placeBid).requestBody!.content['application/json']!.schema;
    expect(Object.keys(bid.properties!)).toEqual(['market', 'clientId', 'maxPrice', 'units', 'replicas', 'requirements', 'expiresAt', 'ioc', 'job']);
    expect(bid.additionalProperties).toBe(false);
  });

  it('lists path and query parameters, and signing for signed routes only', () => {
    expect(op(ROUTES.asks).parameters!.map((p) => `${p.in}:${p.name}`)).toContain('query:minMemoryGb');
    expect(op(ROUTES.jobHistory).parameters!.map((p) => `${p.in}:${p.name}`)).toEqual(['path:id', 'query:cursor', 'query:limit']);
    expect(op(ROUTES.placeBid).security).toBeDefined();
    expect(op(ROUTES.asks).security).toBeUndefined();
  });
});
