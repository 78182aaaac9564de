import { sha256Hex } from '../../contracts/auth.ts';

/**
 * An order's id, derived from (owner, market, client id): a repeat of a request names the same
 * order, and two owners' client ids never collide. `bid_<market>_<24 hex>` (a job's id is its bid's).
 */
export async function orderId(kind: 'ask' | 'bid', owner: string, market: string, clientId: string): Promise<string> {
  return `${kind}_${market}_${(await sha256Hex(`${owner}\n${market}\n${clientId}`)).slice(0, 24)}`;
}
