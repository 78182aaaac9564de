// WebSocket subscriptions (the validator's PubSub API) over a Chain's events: signatures (one-shot,
// as web3.js's confirmTransaction uses them), accounts, logs, slots and roots.

import type { WebSocket } from 'ws';
import { decodePublicKey } from '../client/base58.ts';
import type { Chain, TransactionRecord } from './chain.ts';
import { invalidParams, METHOD_NOT_FOUND, RpcError } from './errors.ts';
import { API_VERSION, encodeAccount } from './rpc.ts';

function guard(notify: () => void): void {
  try {
    notify();
  } catch (err) {
    console.error(`local chain: notification failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

type Kind = 'signature' | 'account' | 'logs' | 'slot' | 'root';

interface Subscription {
  id: number;
  kind: Kind;
  socket: WebSocket;
  /** signature: the signature; account: the address; logs: the mentioned address or null for all. */
  key: string | null;
  encoding: string;
}

export class Subscriptions {
  private nextId = 1;
  private readonly byId = new Map<number, Subscription>();
  private readonly bySocket = new Map<WebSocket, Set<number>>();

  constructor(private readonly chain: Chain) {
    // A failing notification must not fail the transaction or tick that raised it.
    chain.events.on('transaction', (record: TransactionRecord, writable: string[], keys: string[]) => guard(() => this.onTransaction(record, writable, keys)));
    chain.events.on('slot', (s: { slot: number; parent: number; root: number }) => guard(() => this.onSlot(s)));
  }

  /** Answers a subscription method from `socket`; throws Method not found for anything else. */
  handle(socket: WebSocket, method: string, params: unknown[]): unknown {
    const [first, second] = params;
    const cfg = (second && typeof second === 'object' ? second : {}) as Record<string, unknown>;
    switch (method) {
      case 'signatureSubscribe': {
        if (typeof first !== 'string' || first.length < 64 || first.length > 88) throw invalidParams('invalid signature');
        const id = this.add(socket, 'signature', first, 'base64');
        // Already processed: notify at once, after the subscription id has gone out.
        const record = this.chain.getTransaction(first);
        if (record) setImmediate(() => this.notifySignature(id, record));
        return id;
      }
      case 'accountSubscribe': {
        if (!decodePublicKey(first)) throw invalidParams('invalid address');
        const encoding = typeof cfg.encoding === 'string' ? cfg.encoding : 'base64';
        if (!['base64', 'base58', 'jsonParsed'].includes(encoding)) throw invalidParams(`unsupported encoding ${encoding}`);
        return this.add(socket, 'account', first as string, encoding);
      }
      case 'logsSubscribe': {
        if (first === 'all' || first === 'allWithVotes') return this.add(socket, 'logs', null, '');
        const mentions = (first as { mentions?: unknown } | null)?.mentions;
        if (!Array.isArray(mentions) || mentions.length !== 1 || !decodePublicKey(mentions[0])) throw invalidParams('expected "all" or {mentions: [address]}');
        return this.add(socket, 'logs', mentions[0] as string, '');
      }
      case 'slotSubscribe':
        return this.add(socket, 'slot', null, '');
      case 'rootSubscribe':
        return this.add(socket, 'root', null, '');
      case 'signatureUnsubscribe':
      case 'accountUnsubscribe':
      case 'logsUnsubscribe':
      case 'slotUnsubscribe':
      case 'rootUnsubscribe': {
        const sub = typeof first === 'number' ? this.byId.get(first) : undefined;
        if (!sub || sub.socket !== socket || `${sub.kind}Unsubscribe` !== method) throw invalidParams('Invalid subscription id.');
        this.remove(sub.id);
        return true;
      }
      default:
        throw new RpcError(METHOD_NOT_FOUND, 'Method not found');
    }
  }

  /** Drops every subscription of a closed socket. */
  closed(socket: WebSocket): void {
    for (const id of this.bySocket.get(socket) ?? []) this.byId.delete(id);
    this.bySocket.delete(socket);
  }

  get size(): number {
    return this.byId.size;
  }

  private add(socket: WebSocket, kind: Kind, key: string | null, encoding: string): number {
    const id = this.nextId++;
    this.byId.set(id, { id, kind, socket, key, encoding });
    let ids = this.bySocket.get(socket);
    if (!ids) this.bySocket.set(socket, (ids = new Set()));
    ids.add(id);
    return id;
  }

  private remove(id: number): void {
    const sub = this.byId.get(id);
    if (!sub) return;
    this.byId.delete(id);
    this.bySocket.get(sub.socket)?.delete(id);
  }

  private send(sub: Subscription, method: string, result: unknown): void {
    if (sub.socket.readyState !== sub.socket.OPEN) return;
    sub.socket.send(JSON.stringify({ jsonrpc: '2.0', method, params: { result, subscription: sub.id } }));
  }

  private context(slot: number) {
    return { apiVersion: API_VERSION, slot };
  }

  private notifySignature(id: number, record: TransactionRecord): void {
    const sub = this.byId.get(id);
    if (!sub) return;
    // Signature subscriptions end with their notification.
    this.remove(id);
    this.send(sub, 'signatureNotification', { context: this.context(record.slot), value: { err: record.meta.err } });
  }

  private onTransaction(record: TransactionRecord, writable: string[], keys: string[]): void {
    if (this.byId.size === 0) return;
    const changed = new Set(writable);
    const mentioned = new Set(keys);
    for (const sub of [...this.byId.values()]) {
      if (sub.kind === 'signature' && sub.key === record.signature) this.notifySignature(sub.id, record);
      else if (sub.kind === 'account' && changed.has(sub.key!)) {
        guard(() => {
          const account = this.chain.getAccount(sub.key!);
          const value = account
            ? encodeAccount(this.chain, account, sub.encoding, null)
            : { lamports: 0, data: ['', 'base64'], owner: '11111111111111111111111111111111', executable: false, rentEpoch: 0, space: 0 };
          this.send(sub, 'accountNotification', { context: this.context(record.slot), value });
        });
      } else if (sub.kind === 'logs' && (sub.key === null || mentioned.has(sub.key)))
        this.send(sub, 'logsNotification', { context: this.context(record.slot), value: { signature: record.signature, err: record.meta.err, logs: record.meta.logMessages } });
    }
  }

  private onSlot(s: { slot: number; parent: number; root: number }): void {
    for (const sub of this.byId.values()) {
      if (sub.kind === 'slot') this.send(sub, 'slotNotification', s);
      else if (sub.kind === 'root') this.send(sub, 'rootNotification', s.root);
    }
  }
}
