import { execFile } from 'node:child_process';

/** What running a command gave: its stdout when it exited 0, or why it did not. */
export type CommandResult = { ok: true; stdout: string } | { ok: false; reason: string };

/** Runs a program (no shell) with a timeout; never throws (a missing program is `ok: false`). */
export type RunCommand = (file: string, args: readonly string[], timeoutMs?: number) => Promise<CommandResult>;

export const runCommand: RunCommand = (file, args, timeoutMs = 5_000) =>
  new Promise((resolve) => {
    execFile(file, [...args], { timeout: timeoutMs, encoding: 'utf8', windowsHide: true }, (err, stdout) => {
      if (err) resolve({ ok: false, reason: (err as NodeJS.ErrnoException).code === 'ENOENT' ? `${file} not found` : err.message.split('\n')[0] ?? String(err) });
      else resolve({ ok: true, stdout });
    });
  });
