import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeBase58 } from '../../programs/client/base58.ts';
import { readCompactU16 } from '../../programs/client/compact-u16.ts';

/*
 * A loopback JSON-RPC proxy in front of a Solana RPC (the local chain) that misbehaves on request,
 * for tests of what the Worker does when RPC fails between send and confirm. Single requests only
 * (the Worker's client never batches). Faults are rules, taken in order, each for a number of
 * matching calls:
 *   error           answers HTTP 503 without forwarding (the node is down);
 *   rpc-error       answers a JSON-RPC error (-32005, node unhealthy) without forwarding;
 *   hang            never answers and does not forward (the caller times out);
 *   forward-hang    forwards (the chain acts on it) and never answers: a send that landed while
 *                   its answer was lost;
 *   forward-error   forwards, then answers HTTP 502 instead of the chain's answer;
 *   swallow         answers success without forwarding (sendTransaction: the transaction's own
 *                   signature, as a node that accepted it and then dropped it);
 *   not-found       forwards getSignatureStatuses and answers every status null (a node that has not
 *                   seen the transactions yet), keeping the chain's context slot.
 */

export type FaultMode = 'error' | 'rpc-error' | 'hang' | 'forward-hang' | 'forward-error' | 'swallow' | 'not-found';

export interface FaultRule {
  method: string;
  mode: FaultMode;
  /** How many matching calls the rule takes (Infinity: until removed). */
  times: number;
  /** Only calls whose params pass this match (default: all calls of the method). */
  when?: (params: unknown[]) => boolean;
}

export interface RpcProxy {
  url: string;
  /** Adds a fault rule; rules are tried in the order added. */
  fault(rule: FaultRule): void;
  /** Removes every rule that is left. */
  clear(): void;
  /** Calls seen per method, and the faults applied per method. */
  readonly calls: Record<string, number>;
  readonly faults: Record<string, number>;
  /** Every sendTransaction payload (base64) that reached the chain, in order. */
  readonly forwardedSends: string[];
  /** Every sendTransaction payload (base64) the proxy received, forwarded or not. */
  readonly receivedSends: string[];
  stop(): Promise<void>;
}

/** Starts the proxy on a free loopback port, forwarding to `target`. */
export async function startRpcProxy(target: string): Promise<RpcProxy> {
  const rules: (FaultRule & { left: number })[] = [];
  const calls: Record<string, number> = {};
  const faults: Record<string, number> = {};
  const forwardedSends: string[] = [];
  const receivedSends: string[] = [];
  const hanging = new Set<ServerResponse>();

  const forward = async (body: string): Promise<{ status: number; text: string }> => {
    const res = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    return { status: res.status, text: await res.text() };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, body: string) => {
    let request: { id?: unknown; method?: string; params?: unknown[] };
    try {
      request = JSON.parse(body) as typeof request;
    } catch {
      request = {};
    }
    const method = typeof request.method === 'string' ? request.method : '?';
    const params = Array.isArray(request.params) ? request.params : [];
    calls[method] = (calls[method] ?? 0) + 1;
    const sent = method === 'sendTransaction' && typeof params[0] === 'string' ? params[0] : null;
    if (sent) receivedSends.push(sent);
    const rule = rules.find((r) => r.left > 0 && r.method === method && (!r.when || r.when(params)));
    if (rule) {
      rule.left -= 1;
      faults[method] = (faults[method] ?? 0) + 1;
    }
    const reply = (status: number, text: string) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(text);
    };
    const pass = async () => {
      if (sent) forwardedSends.push(sent);
      return forward(body);
    };
    switch (rule?.mode) {
      case undefined: {
        const r = await pass();
        return reply(r.status, r.text);
      }
      case 'error':
        return reply(503, 'service unavailable (test proxy)');
      case 'rpc-error':
        return reply(200, JSON.stringify({ jsonrpc: '2.0', id: request.id ?? null, error: { code: -32005, message: 'Node is unhealthy (test proxy)' } }));
      case 'hang':
        hanging.add(res);
        return;
      case 'forward-hang':
        await pass();
        hanging.add(res);
        return;
      case 'forward-error':
        await pass();
        return reply(502, 'bad gateway (test proxy)');
      case 'swallow':
        return reply(200, JSON.stringify({ jsonrpc: '2.0', id: request.id ?? null, result: sent ? signatureOf(sent) : null }));
      case 'not-found': {
        const r = await pass();
        const answer = JSON.parse(r.text) as { result?: { value?: unknown[] } };
        if (answer.result?.value) answer.result.value = answer.result.value.map(() => null);
        return reply(r.status, JSON.stringify(answer));
      }
    }
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(502).end(`test proxy: ${String(err)}`);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    fault: (rule) => rules.push({ ...rule, left: rule.times }),
    clear: () => {
      rules.length = 0;
    },
    calls,
    faults,
    forwardedSends,
    receivedSends,
    async stop() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The first signature of a base64 wire transaction, base58 (how the chain names it). */
export function signatureOf(base64: string): string {
  const bytes = new Uint8Array(Buffer.from(base64, 'base64'));
  const count = readCompactU16(bytes, 0);
  return encodeBase58(bytes.subarray(count.size, count.size + 64));
}
