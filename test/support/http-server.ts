import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small real HTTP server on 127.0.0.1 for the SDK's tests: it records each request and answers
 * what the test's handler returns. Used by tests only.
 */

export interface RecordedRequest {
  method: string;
  /** Path with query string, as the server received it. */
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface Answer {
  status?: number;
  /** An object is sent as JSON; a string is sent as it is. */
  body: unknown;
}

export interface TestServer {
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startTestServer(handler: (req: RecordedRequest) => Answer | Promise<Answer>): Promise<TestServer> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      const recorded: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(recorded);
      Promise.resolve(handler(recorded)).then(
        (answer) => {
          const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
          const type = typeof answer.body === 'string' ? 'text/plain' : 'application/json';
          res.writeHead(answer.status ?? 200, { 'content-type': type });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(599, { 'content-type': 'text/plain' });
          res.end(String(err));
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections(); // fetch keeps connections alive; close would wait on them
      }),
  };
}
