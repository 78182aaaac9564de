import { spawnSync } from 'node:child_process';

/**
 * The Worker serves the portal's build (wrangler.toml [assets] directory = web/build), and workerd
 * will not start without it: on a fresh clone it is built here, once (scripts/build-web.mjs
 * --if-missing; `npm test` and `npm start` rebuild it when stale), so that `npm run test:workerd`
 * runs on its own.
 */
export default function portalBuild(): void {
  const build = spawnSync(process.execPath, ['scripts/build-web.mjs', '--if-missing'], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (build.status !== 0) throw new Error(`the portal's build (scripts/build-web.mjs) exited ${build.status ?? build.signal}`);
}
