/**
 * workerd's own log lines that passing tests cause on purpose, kept out of the output (the pool
 * already drops its siblings, such as "WebSocket was aborted" and "outputGateBroken; jsg.Error:
 * Instance dispose"; @cloudflare/vitest-pool-workers, handleStructuredLogs). Anything else workerd
 * logs is passed on, and a test that needs one of these to fail still fails on its assertions.
 * Installed in Vitest's main process, where the pool writes workerd's logs.
 */
const EXPECTED: { line: RegExp; why: string; then?: RegExp; follow?: number }[] = [
  // The pool's WebSocket to the runner at the end of each test file.
  { line: /^exception = workerd\/api\/web-socket\.c\+\+:\d+: disconnected: WebSocket peer disconnected$/, why: 'runner socket closed' },
  // test/integration/projection.test.ts restarts an object mid-flow with state.abort('restart').
  { line: /^uncaught exception; exception = workerd\/api\/actor-state\.c\+\+:\d+: failed: broken\.outputGateBroken; jsg\.Error: restart$/, why: 'deliberate abort' },
  // test/integration/deposits.test.ts and withdrawals.test.ts point the chain at a closed port
  // (127.0.0.1:9): workerd logs the refused connection and the request's lost body stream, which
  // the RPC client answers as CUSTODY__CHAIN_UNAVAILABLE.
  { line: /^exception = kj\/async-io-unix\.c\+\+:\d+: disconnected: connect\(\): Connection refused$/, why: 'closed port', then: /Network connection lost\.$/ },
  // An object re-arms its alarm while workerd holds a handler queued for the old time: workerd cancels
  // that one and logs it (the new alarm runs; the outbox and timers re-arm from storage).
  { line: /^NOSENTRY SQLite alarm handler canceled with requestScheduledAlarm\.; scheduledTime = .*; actorId = [0-9a-f]+$/, why: 'alarm re-armed' },
  // A test file's last alarm or timer that runs after its file ended and the runner's socket closed
  // (the pool's own 'Error sending to pool', with the call it could not send).
  { line: /^Error sending to pool: TypeError: Can't call WebSocket send\(\) after close\(\)\.$/, why: 'late work after the file', then: /^(\s+at .*|\s+[a-z]+: .*|\}|\{)$/, follow: 24 },
];
const STACK = /^stack: \S*workerd@[0-9a-f]+( \S*workerd@[0-9a-f]+)*$/;

/** Wraps a stream's write so that chunks made only of expected lines are dropped. */
function filter(stream: NodeJS.WriteStream): void {
  const write = stream.write.bind(stream);
  /** After an expected line: its stack line, and the follow-on lines of the same cause (4 unless told). */
  let follow: RegExp | null = null;
  let followLeft = 0;
  const expected = (line: string): boolean => {
    if (followLeft > 0 && (STACK.test(line) || (follow !== null && follow.test(line)))) {
      followLeft--;
      return true;
    }
    const hit = EXPECTED.find((e) => e.line.test(line));
    if (!hit) return false;
    follow = hit.then ?? null;
    followLeft = hit.follow ?? (hit.then ? 4 : 1);
    return true;
  };
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    const lines = text.split('\n').filter((l) => l !== '');
    if (lines.length > 0 && lines.every((l) => expected(l))) return true;
    followLeft = 0;
    return (write as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof stream.write;
}

/**
 * workerd's logs reach stdout (info) or stderr (warnings, errors) by level. The filters stay until
 * the process exits: the runtime's last lines come after the global teardown.
 */
export default function quietWorkerd(): void {
  const marked = process as { quietWorkerd?: boolean };
  if (marked.quietWorkerd) return;
  marked.quietWorkerd = true;
  filter(process.stdout);
  filter(process.stderr);
}
