// Entry of a worker thread that runs a TypeScript module (workerData.module, a file URL): a worker
// does not inherit the main thread's loader, so this registers tsx (found from this file, whatever
// the cwd) and then loads the module, which serves the thread. Used by RunnerPool (runner-pool.ts)
// and the agent benchmark's feed thread.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.module);
