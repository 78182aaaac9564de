import { UsageError } from '../format.ts';
import { type CommandDef, DEFAULT_URL, asRun } from './context.ts';
import { keysCommands } from './keys.ts';
import { marketsCommands } from './markets.ts';
import { ordersCommands } from './orders.ts';
import { jobsCommands } from './jobs.ts';
import { accountCommands } from './account.ts';
import { stakingCommands } from './staking.ts';
import { governanceCommands } from './governance.ts';

/** The `doug` CLI's command registry and its help texts. */

/** Every command of the `doug` CLI, by name, in the order `doug help` lists them. */
export const COMMANDS: Record<string, CommandDef> = {
  help: {
    usage: 'doug help [COMMAND]',
    summary: 'show usage',
    flags: {},
    positionals: [0, 1],
    run: async (ctx) => {
      const name = ctx.args.positionals[0];
      if (name === undefined) {
        ctx.io.stdout(asRun(ctx.io.env, generalHelp()));
        return 0;
      }
      const def = COMMANDS[name];
      if (!def) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
      ctx.io.stdout(asRun(ctx.io.env, commandHelp(def)));
      return 0;
    },
  },
  ...keysCommands,
  ...marketsCommands,
  ...ordersCommands,
  ...jobsCommands,
  ...accountCommands,
  ...stakingCommands,
  ...governanceCommands,
};

export function generalHelp(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(...names.map((n) => n.length));
  return [
    'doug: the DougAI compute marketplace from the command line',
    '',
    'usage: doug COMMAND [ARGS] [--url URL] [--key PATH] [--json]',
    '',
    'commands:',
    ...names.map((n) => `  ${n.padEnd(width)}  ${COMMANDS[n]!.summary}`),
    '',
    'global flags:',
    `  --url URL    API base URL (env DOUG_URL; default ${DEFAULT_URL})`,
    '  --key PATH   wallet key file (env DOUG_KEY; default ~/.config/doug/id.json)',
    '  --json       print exactly one JSON document instead of tables',
    '',
    'Amounts are in DOUG with up to 9 decimals (0.25, 1.5). `doug COMMAND --help` shows a command.',
    '',
  ].join('\n');
}

export function commandHelp(def: CommandDef): string {
  const lines = [`usage: ${def.usage}`, '', def.summary];
  if (def.details?.length) lines.push('', ...def.details.map((d) => `  ${d}`));
  lines.push('', 'global flags: --url URL, --key PATH, --json', '');
  return lines.join('\n');
}
