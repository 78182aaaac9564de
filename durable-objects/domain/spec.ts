import type { CommandMeta, Decider } from './decider.ts';
import type { DomainError } from './result.ts';

/**
 * Given/when/then for deciders: fold the given events, decide the command, compare the outcome.
 * Used by tests only; it lives here so every aggregate's specs read the same way.
 */
export function specFor<C extends { type: string }, E extends { type: string }, S>(decider: Decider<C, E, S>) {
  return (given: E[], meta: Partial<CommandMeta> = {}) => {
    const m: CommandMeta = { commandId: 'cmd-1', actor: 'system', now: 1_000_000, ...meta };
    let state = decider.initialState();
    for (const e of given) state = decider.evolve(state, e, m);
    return {
      state,
      when(command: C, whenMeta: Partial<CommandMeta> = {}) {
        const result = decider.decide(state, command, { ...m, ...whenMeta });
        return {
          result,
          /** The events decided; throws with the rejection when the command was refused. */
          events(): E[] {
            if (!result.ok) throw new Error(`expected events, got rejection ${result.error.code}: ${result.error.message}`);
            return result.value;
          },
          /** The rejection; throws when the command was accepted. */
          rejection(): DomainError {
            if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result.value, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))}`);
            return result.error;
          },
        };
      },
    };
  };
}
