/// <reference lib="dom" />
/**
 * A Wallet Standard wallet for browser tests, registered in the page the way an extension
 * registers itself (the `wallet-standard:register-wallet` / `wallet-standard:app-ready` events). It
 * holds a real ed25519 key made with WebCrypto and counts the messages it signs, so a test can
 * prove that connecting asks for exactly one signature and later clicks ask for none.
 */
export function installTestWallet(): void {
  const state = { signs: 0, connects: 0, publicKey: '' };
  (window as unknown as { __testWallet: typeof state }).__testWallet = state;
  const alphabet = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
  const base58 = (bytes: Uint8Array): string => {
    let n = 0n;
    for (const b of bytes) n = n * 256n + BigInt(b);
    let out = '';
    while (n > 0n) {
      out = alphabet[Number(n % 58n)] + out;
      n /= 58n;
    }
    for (const b of bytes) {
      if (b !== 0) break;
      out = '1' + out;
    }
    return out;
  };
  const keys = crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']) as Promise<CryptoKeyPair>;
  const account = keys.then(async (pair) => {
    const publicKey = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
    state.publicKey = base58(publicKey);
    return { address: state.publicKey, publicKey, chains: ['solana:localnet'], features: ['solana:signMessage'] };
  });
  const wallet = {
    version: '1.0.0',
    name: 'Test Wallet',
    icon: 'data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHZpZXdCb3g9IjAgMCAxIDEiLz4=',
    chains: ['solana:localnet'],
    accounts: [] as unknown[],
    features: {
      'standard:connect': {
        version: '1.0.0',
        connect: async () => {
          state.connects++;
          const a = await account;
          wallet.accounts = [a];
          return { accounts: [a] };
        },
      },
      'standard:disconnect': { version: '1.0.0', disconnect: async () => void (wallet.accounts = []) },
      'standard:events': { version: '1.0.0', on: () => () => undefined },
      'solana:signMessage': {
        version: '1.0.0',
        signMessage: async (...inputs: { message: Uint8Array }[]) => {
          const pair = await keys;
          return Promise.all(
            inputs.map(async ({ message }) => {
              state.signs++;
              return { signedMessage: message, signature: new Uint8Array(await crypto.subtle.sign('Ed25519', pair.privateKey, message as Uint8Array<ArrayBuffer>)) };
            }),
          );
        },
      },
    },
  };
  const callback = ({ register }: { register: (w: unknown) => unknown }) => register(wallet);
  window.dispatchEvent(new CustomEvent('wallet-standard:register-wallet', { detail: callback }));
  window.addEventListener('wallet-standard:app-ready', (event) => callback((event as CustomEvent).detail));
}
