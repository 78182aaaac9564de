// A client-rendered single-page app: every page reads live data from the API on the same origin.
export const ssr = false;
export const prerender = false;
export const trailingSlash = 'never';
