/**
 * Loads sdk/umi.ts (Umi, web3.js, mpl-toolbox) on first use, so that CLI commands that never touch
 * the chain do not pay for it. A module of its own: tsx rewrites dynamic imports with a lexer that
 * fails on some of the CLI's code (a parse error at start), so the CLI imports this statically.
 */
export const loadUmi = (): Promise<typeof import('./umi.ts')> => import('./umi.ts');
