import adapter from '@sveltejs/adapter-static';
import aliases from './aliases.cjs';

// The portal is a static single-page app: the Worker serves web/build as static assets on the same
// origin as the API (wrangler.toml [assets], single-page-application fallback).
// scripts/build-web.mjs builds into a staging folder (DOUG_WEB_OUT) and then updates web/build in
// place, so that a running `wrangler dev` never sees the folder half written.
const out = process.env.DOUG_WEB_OUT ?? 'build';
// $lib is SvelteKit's own; the others reach the rest of the project (web/aliases.cjs).
const { $lib: _lib, ...alias } = aliases;

/** @type {import('@sveltejs/kit').Config} */
export default {
  kit: {
    adapter: adapter({ pages: out, assets: out, fallback: 'index.html', strict: true }),
    alias,
  },
};
