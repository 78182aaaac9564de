// `node --import tsx programs/local-chain/cli.ts [--port 8899] [--host 127.0.0.1] [--state FILE] [--slot-ms 400]`:
// runs the local chain until SIGINT/SIGTERM, saving its state on the way out. Prints one line when
// ready: `local chain: RPC http://… WebSocket ws://… state FILE`.

import { parseArgs } from 'node:util';
import { startLocalChain, type LocalChainOptions } from './server.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8899' },
    host: { type: 'string', default: '127.0.0.1' },
    state: { type: 'string' },
    'slot-ms': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help) {
  console.log('usage: local-chain [--port 8899] [--host 127.0.0.1] [--state .local/chain.json] [--slot-ms 400]');
  process.exit(0);
}

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65534) {
  console.error(`local chain: invalid --port ${values.port}`);
  process.exit(2);
}
const options: LocalChainOptions = { port, host: values.host };
if (values.state) options.stateFile = values.state;
if (values['slot-ms'] !== undefined) options.slotMs = Number(values['slot-ms']);

let chain;
try {
  chain = await startLocalChain(options);
} catch (err) {
  console.error(`local chain: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
console.log(`local chain: RPC ${chain.url} WebSocket ${chain.wsUrl} state ${values.state ?? '(none)'}`);

const shutdown = async () => {
  await chain.stop();
  process.exit(0);
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
