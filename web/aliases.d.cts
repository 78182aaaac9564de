/** The portal's import aliases (web/aliases.cjs): name → absolute path. */
declare const aliases: Record<string, string>;
export = aliases;
