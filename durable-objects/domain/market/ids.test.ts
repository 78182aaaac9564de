import { describe, expect, it } from 'vitest';
import { ORDER_ID } from '../../contracts/api.ts';
import { orderId } from './ids.ts';

describe('an order id', () => {
  it('is the same for a repeat of one request, and names its kind and market', async () => {
    const id = await orderId('bid', 'owner-1', 'cpu', 'c-1');
    expect(id).toBe(await orderId('bid', 'owner-1', 'cpu', 'c-1'));
    expect(ORDER_ID.exec(id)?.slice(1, 3)).toEqual(['bid', 'cpu']);
  });
  it('differs by owner, market, client id and kind', async () => {
    const base = await orderId('bid', 'owner-1', 'cpu', 'c-1');
    const others = await Promise.all([orderId('bid', 'owner-2', 'cpu', 'c-1'), orderId('bid', 'owner-1', 'gpu-24gb', 'c-1'), orderId('bid', 'owner-1', 'cpu', 'c-2'), orderId('ask', 'owner-1', 'cpu', 'c-1')]);
    expect(new Set([base, ...others]).size).toBe(5);
  });
  it('cannot be forged by moving the separator between owner and client id', async () => {
    expect(await orderId('bid', 'ab', 'cpu', 'c')).not.toBe(await orderId('bid', 'a', 'cpu', 'bc'));
  });
});
