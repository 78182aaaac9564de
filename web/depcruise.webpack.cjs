// Module resolution for dependency-cruiser (it reads aliases from a webpack-style config).
module.exports = { resolve: { alias: require('./aliases.cjs'), extensions: ['.ts', '.js', '.svelte'] } };
