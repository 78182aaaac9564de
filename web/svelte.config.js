import adapter from '@sveltejs/adapter-static';

// The portal is a static single-page app: the Worker serves web/build as static assets on the same
// origin as the API (wrangler.toml [assets], single-page-application fallback).
/** @type {import('@sveltejs/kit').Config} */
export default {
  kit: {
    adapter: adapter({ pages: 'build', assets: 'build', fallback: 'index.html', strict: true }),
    alias: {
      $contracts: '../durable-objects/contracts',
      $domain: '../durable-objects/domain',
      $sdk: '../sdk',
    },
  },
};
