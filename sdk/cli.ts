#!/usr/bin/env -S node --import tsx

import type { Keypair } from '../durable-objects/contracts/auth.ts';
import { DougApiError, DougClient, type DougClientOptions } from './client.ts';
import { UsageError, isEntryModule, takeFlag, type FlagValue } from './format.ts';
import { KeyFileError, loadKeypair, resolveKeyPath } from './keyfile.ts';
import { type CliIo, type CommandLine, type Ctx, DEFAULT_URL, GLOBAL_FLAGS, asRun, str, userPath } from './commands/context.ts';
import { COMMANDS, commandHelp, generalHelp } from './commands/index.ts';

/**
 * The `doug` command line. `main(argv, io)` does everything and returns the exit code, so tests run
 * it in-process with their own writers, environment and client factory.
 */

export type { CliIo, CommandLine } from './commands/context.ts';
export { attributesArg, DEFAULT_URL, invocation, requirementArg } from './commands/context.ts';

/** Splits argv into command, positionals and flags; global flags may stand anywhere. */
export function parseCommandLine(argv: string[]): CommandLine {
  let command: string | null = null;
  const positionals: string[] = [];
  const flags: Record<string, FlagValue> = {};
  let help = false;
  let rest = false;
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (!rest && tok === '--') {
      rest = true;
      continue;
    }
    if (!rest && (tok === '--help' || tok === '-h')) {
      help = true;
      continue;
    }
    if (!rest && tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      const name = eq === -1 ? tok.slice(2) : tok.slice(2, eq);
      const inline = eq === -1 ? undefined : tok.slice(eq + 1);
      const kind = GLOBAL_FLAGS[name] ?? (command ? COMMANDS[command]?.flags[name] : undefined);
      if (!kind) throw new UsageError(command ? `unknown flag --${name} for doug ${command}` : `unknown flag --${name}`);
      i = takeFlag(argv, i, name, kind, inline, flags);
      continue;
    }
    if (!rest && /^-[^0-9.]/.test(tok)) throw new UsageError(`unknown flag ${tok}`);
    if (command === null) {
      if (!COMMANDS[tok]) throw new UsageError(`unknown command ${JSON.stringify(tok)}`);
      command = tok;
    } else {
      positionals.push(tok);
    }
  }
  return { command, positionals, flags, help };
}

/** Runs the CLI; returns the exit code (0 ok, 1 failure, 2 usage). */
export async function main(argv: string[], io: CliIo): Promise<number> {
  let args: CommandLine;
  try {
    args = parseCommandLine(argv);
  } catch (err) {
    return fail(io, err, null);
  }
  if (args.command === null) {
    (args.help ? io.stdout : io.stderr)(asRun(io.env, generalHelp()));
    return args.help ? 0 : 2;
  }
  const def = COMMANDS[args.command]!;
  if (args.help) {
    io.stdout(asRun(io.env, commandHelp(def)));
    return 0;
  }
  try {
    const [min, max] = def.positionals;
    if (args.positionals.length < min) throw new UsageError(`missing argument; usage: ${def.usage.split('\n')[0]}`);
    if (args.positionals.length > max) throw new UsageError(`unexpected argument ${JSON.stringify(args.positionals[max])}`);
    const ctx = makeCtx(args, io);
    return (await def.run(ctx)) ?? 0;
  } catch (err) {
    return fail(io, err, args.command);
  }
}

function makeCtx(args: CommandLine, io: CliIo): Ctx {
  const url = str(args.flags.url) ?? (io.env.DOUG_URL || undefined) ?? DEFAULT_URL;
  try {
    new URL(url);
  } catch {
    throw new UsageError(`--url: ${JSON.stringify(url)} is not a URL`);
  }
  const keyPath = resolveKeyPath({ flag: str(args.flags.key), env: io.env, home: io.home });
  const create = io.createClient ?? ((o: DougClientOptions) => new DougClient(o));
  const json = args.flags.json === true;
  let keypair: Promise<Keypair> | undefined;
  const loadKey = () => (keypair ??= loadKeypair(keyPath, { keygen: asRun(io.env, 'doug keygen') }));
  return {
    args,
    io,
    json,
    now: (io.now ?? Date.now)(),
    keyPath,
    reader: () => create({ baseUrl: url }),
    signer: async () => create({ baseUrl: url, keypair: await loadKey() }),
    ownKey: async () => (await loadKey()).publicKey,
    key: loadKey,
    out(value, human) {
      io.stdout(json ? JSON.stringify(value, null, 2) + '\n' : human());
    },
    cmd: (rest) => asRun(io.env, `doug ${rest}`),
    path: (p) => userPath(io.env, p),
  };
}

function fail(io: CliIo, err: unknown, command: string | null): number {
  if (err instanceof UsageError) {
    io.stderr(`error ${err.code}: ${asRun(io.env, err.message)}\n`);
    io.stderr(asRun(io.env, command ? `run \`doug ${command} --help\` for usage\n` : 'run `doug help` for usage\n'));
    return 2;
  }
  if (err instanceof DougApiError || err instanceof KeyFileError) {
    io.stderr(`error ${err.code}: ${err.message}\n`);
    return 1;
  }
  const message = err instanceof Error ? err.message : String(err);
  io.stderr(`error CLI__UNEXPECTED: ${message}\n`);
  if (io.env.DOUG_DEBUG && err instanceof Error && err.stack) io.stderr(err.stack + '\n');
  return 1;
}

if (isEntryModule(import.meta.url)) {
  const write = (stream: NodeJS.WriteStream) => (text: string) => void stream.write(text);
  process.stdout.on('error', () => {}); // a closed pipe (`doug asks | head`) is not an error
  main(process.argv.slice(2), { stdout: write(process.stdout), stderr: write(process.stderr), env: process.env, stderrIsTTY: process.stderr.isTTY === true }).then((code) => {
    process.exitCode = code;
  });
}
