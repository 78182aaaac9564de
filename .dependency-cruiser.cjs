/**
 * The layering of the house (docs/architecture.md, "Layers"), checked by `npm run lint:deps` in
 * `npm test`. Top to bottom: scripts → gpu-agent, sdk, web → workers → durable-objects/runtime →
 * durable-objects/domain, durable-objects/contracts, programs/client. An arrow never points up and
 * no files import each other in a loop.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      severity: 'error',
      comment: 'Files must not import each other in a loop.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'domain-is-pure',
      severity: 'error',
      comment: 'domain/ imports only itself and the contracts: no runtime, no edge, no Node or Cloudflare modules.',
      from: { path: '^durable-objects/domain/', pathNot: '\\.test\\.ts$' },
      to: { pathNot: '^durable-objects/(domain|contracts)/' },
    },
    {
      name: 'contracts-are-leaves',
      severity: 'error',
      comment: 'contracts/ (wire types, signing) import only themselves, the domain and the Solana library.',
      from: { path: '^durable-objects/contracts/', pathNot: '\\.test\\.ts$' },
      to: { pathNot: '^(durable-objects/(domain|contracts)|programs/client)/' },
      // Node's crypto is not used: Web Crypto runs in the Worker, the browser and Node alike.
    },
    {
      name: 'solana-library-stands-alone',
      severity: 'error',
      comment: 'programs/client imports nothing of the edge, the object shells, the SDK, the portal or the agent.',
      from: { path: '^programs/client/', pathNot: '\\.test\\.ts$' },
      to: { path: '^(workers|durable-objects/runtime|sdk|web|gpu-agent|scripts|test)/' },
    },
    {
      name: 'runtime-below-the-edge',
      severity: 'error',
      comment: 'The object shells never import the Worker (no upward arrow); their tests may set a chain up with the scripts and the SDK.',
      from: { path: '^durable-objects/runtime/', pathNot: '\\.test\\.ts$' },
      to: { path: '^(workers|sdk|web|gpu-agent|scripts)/' },
    },
    {
      name: 'clients-import-no-shell',
      severity: 'error',
      comment: 'The portal, the SDK and the agent speak HTTP and WebSocket: they import no runtime shell and no Worker code.',
      from: { path: '^(web/src|sdk|gpu-agent)/' },
      to: { path: '^(workers|durable-objects/runtime)/' },
    },
    {
      name: 'edge-imports-no-client',
      severity: 'error',
      comment: 'The Worker and the objects never import the SDK, the portal, the agent or scripts (tests and the programs\' test worlds may).',
      from: { path: '^(workers|durable-objects|programs)/', pathNot: '\\.test\\.ts$|^programs/testing/' },
      to: { path: '^(sdk|web|gpu-agent|scripts)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|web/build|web/\\.svelte-kit|\\.wrangler|\\.local)' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // The portal's aliases ($contracts, $domain, $sdk, $programs, $lib): web/aliases.cjs.
    webpackConfig: { fileName: 'web/depcruise.webpack.cjs' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      extensions: ['.ts', '.js', '.svelte'],
    },
    reporterOptions: {
      dot: { collapsePattern: '^(node_modules/[^/]+|durable-objects/[^/]+|programs/[^/]+|web/src/[^/]+|[^/]+)/' },
    },
  },
};
