/**
 * What a chat completion costs and who is paid. The buyer pays `chatTokenPrice` (a market
 * parameter) for each token the route processed, prompt and completion alike; before it starts,
 * the most it can cost (the prompt and `max_tokens`) is held, and the unused part goes back at the
 * end. The charge is split among the route's stages by their share of the model's layers (the
 * last stage takes the rounding), each payout less the protocol fee. A stage is paid to the agent
 * that held it at the end: a holder that dropped out bears its fault and is paid nothing, its
 * replacement (which replayed the whole session) the stage's whole share. A completion that fails
 * charges nothing.
 */
import { bps, type Amount } from '../money.ts';

export function chatHold(promptTokens: number, maxTokens: number, tokenPrice: number): Amount {
  return BigInt(promptTokens + maxTokens) * BigInt(tokenPrice);
}

export function chatCharge(promptTokens: number, completionTokens: number, tokenPrice: number): Amount {
  return BigInt(promptTokens + completionTokens) * BigInt(tokenPrice);
}

export interface StageShare {
  provider: string;
  layers: number;
}

/** Each stage's provider (by route order) with the number of its layers. */
export function stageShares(stages: readonly { from: number; to: number }[], providers: readonly string[]): StageShare[] {
  return stages.map((s, i) => ({ provider: providers[i]!, layers: s.to - s.from + 1 }));
}

/** The payouts of a charge: each stage's share of it by layers, its fee at `feeBps` taken out. */
export function chatPayouts(charge: Amount, stages: readonly StageShare[], feeBps: number): { payouts: { account: string; amount: Amount; fee: Amount }[]; fee: Amount } {
  const layers = BigInt(stages.reduce((sum, s) => sum + s.layers, 0));
  let left = charge;
  const payouts = stages.map((s, i) => {
    const gross = i === stages.length - 1 ? left : (charge * BigInt(s.layers)) / layers;
    left -= gross;
    const fee = bps(gross, feeBps);
    return { account: s.provider, amount: gross - fee, fee };
  });
  return { payouts, fee: payouts.reduce((sum, p) => sum + p.fee, 0n) };
}
