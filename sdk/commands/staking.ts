import { STAKING_CONSTANTS } from '../../programs/staking/constants.ts';
import { doug, dougArg, intArg, keyValues, table, time, UsageError } from '../format.ts';
import { claim, positionWire, stake, stakingOverview, unstake, type PositionView } from '../staking.ts';
import { type CommandDef, str } from './context.ts';

/** Staking: positions in the staking program, from the key file's wallet (its own transactions). */

const idArg = (value: string) => BigInt(intArg('ID', value, 1));
const status = (p: PositionView) => (p.status === 'unstaking' ? `unstaking until ${time(p.unlockAt! * 1000)}` : p.status);

export const stakingCommands: Record<string, CommandDef> = {
  stake: {
    usage: 'doug stake AMOUNT_DOUG [--lock DAYS]',
    summary: 'stake DOUG from your wallet in a new position: a share of the fees by weight (signs a chain transaction)',
    flags: { lock: 'string' },
    positionals: [1, 1],
    details: [
      `--lock DAYS   0 to ${STAKING_CONSTANTS.STAKING_MAX_LOCK_DAYS} (default 0): the notice an unstake must give; weight grows to 4× at a year`,
      'The position earns from the next fee on; `doug unstake ID` stops it, and run again after the lock and cooldown, returns the tokens.',
    ],
    run: async (ctx) => {
      const amount = dougArg('AMOUNT_DOUG', ctx.args.positionals[0]!);
      if (amount === 0n) throw new UsageError('AMOUNT_DOUG: stake more than 0');
      const lockDays = str(ctx.args.flags.lock) === undefined ? 0 : intArg('--lock', str(ctx.args.flags.lock)!, 0);
      if (lockDays > STAKING_CONSTANTS.STAKING_MAX_LOCK_DAYS) throw new UsageError(`--lock: at most ${STAKING_CONSTANTS.STAKING_MAX_LOCK_DAYS} days`);
      const chain = await ctx.reader().chain();
      const res = await stake({ chain, wallet: await ctx.key(), amount, lockDays });
      ctx.out({ id: res.id.toString(), amount: amount.toString(), lockDays, weight: res.weight.toString(), signature: res.signature, slot: res.slot }, () =>
        keyValues([
          ['position', res.id.toString()],
          ['staked', `${doug(amount)} DOUG, locked ${lockDays} days`],
          ['weight', doug(res.weight)],
          ['signature', res.signature],
        ]),
      );
    },
  },
  stakes: {
    usage: 'doug stakes [OWNER]',
    summary: "list a wallet's staking positions: weight, status, what a claim would pay (default: your key)",
    flags: {},
    positionals: [0, 1],
    run: async (ctx) => {
      const owner = ctx.args.positionals[0] ?? (await ctx.ownKey());
      const overview = await stakingOverview(await ctx.reader().chain(), owner);
      const c = overview.config;
      ctx.out(
        { owner, positions: overview.positions.map(positionWire), totalStaked: c.totalStaked.toString(), totalWeight: c.totalWeight.toString(), feesToStakers: c.feesToStakers.toString(), cooldownSeconds: Number(c.cooldownSeconds) },
        () =>
          (overview.positions.length === 0
            ? `no positions for ${owner}\n`
            : table(
                ['id', 'staked', 'lock', 'weight', 'claimable', 'claimed', 'status'],
                overview.positions.map((p) => [p.id.toString(), doug(p.amount), `${p.lockDays} d`, doug(p.weight), doug(p.claimable), doug(p.claimed), status(p)]),
                { right: [1, 3, 4, 5] },
              )) + `network: ${doug(c.totalStaked)} DOUG staked, weight ${doug(c.totalWeight)}, ${doug(c.feesToStakers)} DOUG of fees shared\n`,
      );
    },
  },
  unstake: {
    usage: 'doug unstake ID',
    summary: 'stop a position earning (its lock and the cooldown start); once they have passed, the same command returns the tokens',
    flags: {},
    positionals: [1, 1],
    run: async (ctx) => {
      const res = await unstake({ chain: await ctx.reader().chain(), wallet: await ctx.key(), id: idArg(ctx.args.positionals[0]!) });
      ctx.out({ action: res.action, position: positionWire(res.position), signature: res.signature, slot: res.slot }, () =>
        keyValues([
          [res.action, `position ${res.position.id}: ${doug(res.position.amount)} DOUG${res.action === 'withdrawn' ? ' back to your wallet' : ''}`],
          ['signature', res.signature],
          ...(res.action === 'unstaked' ? ([['next', `${ctx.cmd(`unstake ${res.position.id}`)} again once its ${res.position.lockDays}-day lock and the cooldown have passed`]] as [string, string][]) : []),
        ]),
      );
    },
  },
  claim: {
    usage: 'doug claim [ID]',
    summary: 'claim staking rewards of one position, or of every position with something to claim',
    flags: {},
    positionals: [0, 1],
    run: async (ctx) => {
      const id = ctx.args.positionals[0] === undefined ? undefined : idArg(ctx.args.positionals[0]);
      const res = await claim({ chain: await ctx.reader().chain(), wallet: await ctx.key(), ...(id !== undefined && { id }) });
      ctx.out({ claimed: res.claimed.map((c) => ({ id: c.id.toString(), amount: c.amount.toString(), signature: c.signature })) }, () =>
        table(
          ['position', 'claimed', 'signature'],
          res.claimed.map((c) => [c.id.toString(), `${doug(c.amount)} DOUG`, c.signature]),
          { right: [1] },
        ),
      );
    },
  },
};
