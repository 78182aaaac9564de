import { readFileSync } from 'node:fs';

/** A program's committed build (`programs/<name>/<name>.so`) and the keypair of its address (`program-keypair.json`). */
export function programArtifacts(name: string): { so: Uint8Array; keypair: Uint8Array } {
  const file = (f: string) => new URL(`../${name}/${f}`, import.meta.url);
  return {
    so: new Uint8Array(readFileSync(file(`${name}.so`))),
    keypair: Uint8Array.from(JSON.parse(readFileSync(file('program-keypair.json'), 'utf8')) as number[]),
  };
}
