// Environment that keeps wrangler and workerd offline and their config inside the project.
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';

export function offlineEnv(root = process.cwd()) {
  const config = resolve(root, '.config');
  mkdirSync(config, { recursive: true });
  return {
    ...process.env,
    WRANGLER_SEND_METRICS: 'false',
    WRANGLER_SEND_ERROR_REPORTS: 'false',
    WRANGLER_HIDE_BANNER: 'true',
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    XDG_CONFIG_HOME: config,
    NO_UPDATE_NOTIFIER: '1',
  };
}
