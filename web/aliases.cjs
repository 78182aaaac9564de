// The portal's import aliases, as absolute paths: web/svelte.config.js, vitest.node.config.ts and
// .dependency-cruiser.cjs all resolve the portal's imports through this one table.
const { resolve } = require('node:path');
const root = resolve(__dirname, '..');

module.exports = {
  $contracts: resolve(root, 'durable-objects/contracts'),
  $domain: resolve(root, 'durable-objects/domain'),
  $sdk: resolve(root, 'sdk'),
  $programs: resolve(root, 'programs'),
  $lib: resolve(root, 'web/src/lib'),
};
