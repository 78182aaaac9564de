// Entry of a RunnerPool thread (runner-pool.ts). A worker thread does not inherit the main thread's
// TypeScript loader, so it registers tsx (found from this file, whatever the cwd) and then loads the
// pool's module, which serves the thread.
import { register } from 'tsx/esm/api';

register();
await import('./runner-pool.ts');
