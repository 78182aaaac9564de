import { PROTOCOL } from '../../durable-objects/domain/params.ts';
import { MARKET_PARAM_FIELDS, type MarketParamField } from '../../programs/governance/constants.ts';
import { readMarketParams, type MarketValues, type ProposalChange } from '../../programs/client/governance.ts';
import { solanaRpc } from '../../programs/client/rpc.ts';
import { doug, dougArg, intArg, keyValues, table, time, UsageError } from '../format.ts';
import { describeChange, execute, governanceOverview, governanceWire, governedParameters, proposalWire, propose, vote } from '../governance.ts';
import { type CommandDef, GLOBAL_FLAGS, str } from './context.ts';

/** Governance: proposals of the governance program, voted with the key file's staking positions. */

const idArg = (value: string) => BigInt(intArg('ID', value, 0));
const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const MARKET_FLAGS = Object.fromEntries(MARKET_PARAM_FIELDS.map((f) => [kebab(f), 'string' as const]));
const TARGETS = ['escrow', 'staking', 'market', 'governance'] as const;

const flagBig = (flags: Record<string, unknown>, name: string, fallback: bigint, dougUnits = false): bigint => {
  const v = str(flags[name] as string | undefined);
  if (v === undefined) return fallback;
  return dougUnits ? dougArg(`--${name}`, v) : BigInt(intArg(`--${name}`, v, 0));
};
const flagInt = (flags: Record<string, unknown>, name: string, fallback: number): number => {
  const v = str(flags[name] as string | undefined);
  return v === undefined ? fallback : intArg(`--${name}`, v, 0);
};

export const governanceCommands: Record<string, CommandDef> = {
  proposals: {
    usage: 'doug proposals',
    summary: 'list governance proposals: what each changes, its votes against what it needs, and where it stands',
    flags: {},
    positionals: [0, 0],
    run: async (ctx) => {
      const { governance: g, proposals } = await governanceOverview(await ctx.reader().chain());
      ctx.out({ governance: governanceWire(g), proposals: proposals.map(proposalWire) }, () =>
        (proposals.length === 0
          ? 'no proposals yet\n'
          : table(
              ['id', 'change', 'for', 'against', 'needs', 'status', 'until'],
              proposals.map((p) => [
                p.index.toString(),
                describeChange(p),
                doug(p.forWeight),
                doug(p.againstWeight),
                `${doug(p.needed)} ${p.action === 'slash' ? 'against' : 'for'}`,
                p.status,
                p.status === 'voting' || p.status === 'appeal' ? time(p.votingEndsAt * 1000) : p.status === 'holdUp' ? time(p.executableAt * 1000) : '',
              ]),
              { right: [2, 3] },
            )) + `governance: a proposal needs ${g.quorumBps / 100}% of the weight at its opening, a slash is vetoed by ${g.vetoBps / 100}%; proposing takes a position of weight ${doug(g.proposalThreshold)}\n`,
      );
    },
  },
  propose: {
    usage: 'doug propose escrow|staking|market|governance --FIELD VALUE …',
    summary: 'propose a change of the governed parameters (fields not named keep their current values); signs with your heaviest position',
    flags: {
      'fee-bps': 'string',
      'stakers-share-bps': 'string',
      timelock: 'string',
      'min-provider-stake': 'string',
      cooldown: 'string',
      'max-slash-event-bps': 'string',
      'max-slash-epoch-bps': 'string',
      market: 'string',
      ...MARKET_FLAGS,
      'quorum-bps': 'string',
      'veto-bps': 'string',
      threshold: 'string',
      voting: 'string',
      'hold-up': 'string',
      appeal: 'string',
      position: 'string',
    },
    positionals: [1, 1],
    details: [
      'escrow       --fee-bps N  --stakers-share-bps N  --timelock SECONDS',
      'staking      --min-provider-stake DOUG  --cooldown SECONDS  --max-slash-event-bps N  --max-slash-epoch-bps N',
      `market       --market NAME  ${MARKET_PARAM_FIELDS.map((f) => `--${kebab(f)} N`).join('  ')}`,
      'governance   --quorum-bps N  --veto-bps N  --threshold DOUG  --voting SECONDS  --hold-up SECONDS  --appeal SECONDS',
      '--position ID   the position that proposes (default: your heaviest)',
    ],
    run: async (ctx) => {
      const target = ctx.args.positionals[0] as (typeof TARGETS)[number];
      if (!TARGETS.includes(target)) throw new UsageError(`propose what? one of ${TARGETS.join(', ')}`);
      const f = ctx.args.flags;
      const named = Object.keys(f).filter((k) => k !== 'position' && k !== 'market' && f[k] !== undefined && !Object.hasOwn(GLOBAL_FLAGS, k));
      if (named.length === 0) throw new UsageError('name at least one value to change, e.g. --fee-bps 300');
      const chain = await ctx.reader().chain();
      const now = await governedParameters(chain);
      let change: Exclude<ProposalChange, { action: 'slash' }>;
      if (target === 'escrow') {
        const e = now.escrow;
        change = { action: 'updateEscrow', escrow: { feeBps: flagInt(f, 'fee-bps', e.feeBps), stakersShareBps: flagInt(f, 'stakers-share-bps', e.stakersShareBps), withdrawTimelockSeconds: flagBig(f, 'timelock', e.withdrawTimelockSeconds), newAdmin: e.admin } };
      } else if (target === 'staking') {
        const s = now.staking;
        change = {
          action: 'updateStaking',
          staking: {
            minProviderStake: flagBig(f, 'min-provider-stake', s.minProviderStake, true),
            cooldownSeconds: flagBig(f, 'cooldown', s.cooldownSeconds),
            maxSlashBpsPerEvent: flagInt(f, 'max-slash-event-bps', s.maxSlashBpsPerEvent),
            maxSlashBpsPerEpoch: flagInt(f, 'max-slash-epoch-bps', s.maxSlashBpsPerEpoch),
            slashAuthority: s.slashAuthority,
            newAdmin: s.admin,
          },
        };
      } else if (target === 'market') {
        const market = str(f.market);
        if (!market) throw new UsageError('--market NAME: which market');
        const current = (await readMarketParams(solanaRpc(chain.rpcUrl), market, chain.governance ? { programId: chain.governance.program } : {}))?.values;
        const values = Object.fromEntries(MARKET_PARAM_FIELDS.map((k: MarketParamField) => [k, flagBig(f, kebab(k), current?.[k] ?? BigInt(PROTOCOL[k]))])) as MarketValues;
        change = { action: 'setMarket', market, values };
      } else {
        const g = now.governance;
        change = {
          action: 'updateGovernance',
          governance: {
            quorumBps: flagInt(f, 'quorum-bps', g.quorumBps),
            vetoBps: flagInt(f, 'veto-bps', g.vetoBps),
            proposalThreshold: flagBig(f, 'threshold', g.proposalThreshold, true),
            votingSeconds: flagBig(f, 'voting', g.votingSeconds),
            holdUpSeconds: flagBig(f, 'hold-up', g.holdUpSeconds),
            appealSeconds: flagBig(f, 'appeal', g.appealSeconds),
            slashProposer: g.slashProposer,
          },
        };
      }
      const positionId = str(f.position) === undefined ? undefined : idArg(str(f.position)!);
      const res = await propose({ chain, wallet: await ctx.key(), change, ...(positionId !== undefined && { positionId }) });
      const p = res.proposal;
      ctx.out({ proposal: proposalWire(p), signature: res.signature, slot: res.slot }, () =>
        keyValues([
          ['proposal', p.index.toString()],
          ['change', describeChange(p)],
          ['voting ends', time(p.votingEndsAt * 1000)],
          ['runs from', time(p.executableAt * 1000)],
          ['signature', res.signature],
          ['next', `${ctx.cmd(`vote ${p.index} for`)}`],
        ]),
      );
    },
  },
  vote: {
    usage: 'doug vote ID for|against [--position ID]',
    summary: 'vote on a proposal with your positions (against a slash is a veto); each vote holds its position until voting ends',
    flags: { position: 'string' },
    positionals: [2, 2],
    details: ['--position ID   vote with this position only (default: every position that may)'],
    run: async (ctx) => {
      const side = ctx.args.positionals[1];
      if (side !== 'for' && side !== 'against') throw new UsageError('vote for or against?');
      const positionId = str(ctx.args.flags.position) === undefined ? undefined : idArg(str(ctx.args.flags.position)!);
      const res = await vote({ chain: await ctx.reader().chain(), wallet: await ctx.key(), index: idArg(ctx.args.positionals[0]!), side, ...(positionId !== undefined && { positionId }) });
      const p = res.proposal;
      ctx.out({ votes: res.votes.map((v) => ({ id: v.id.toString(), weight: v.weight.toString(), signature: v.signature })), proposal: proposalWire(p) }, () =>
        table(
          ['position', 'weight', 'signature'],
          res.votes.map((v) => [v.id.toString(), doug(v.weight), v.signature]),
          { right: [1] },
        ) + `proposal ${p.index}: ${doug(p.forWeight)} for, ${doug(p.againstWeight)} against; it needs ${doug(p.needed)} ${p.action === 'slash' ? 'against to be vetoed' : 'for'}\n`,
      );
    },
  },
  execute: {
    usage: 'doug execute ID',
    summary: 'carry out a proposal that passed and whose hold-up has ended, or a slash whose appeal window has (anyone may)',
    flags: {},
    positionals: [1, 1],
    run: async (ctx) => {
      const res = await execute({ chain: await ctx.reader().chain(), wallet: await ctx.key(), index: idArg(ctx.args.positionals[0]!) });
      ctx.out({ proposal: proposalWire(res.proposal), signature: res.signature, slot: res.slot }, () =>
        keyValues([
          ['executed', `proposal ${res.proposal.index}: ${describeChange(res.proposal)}`],
          ['signature', res.signature],
        ]),
      );
    },
  },
};
