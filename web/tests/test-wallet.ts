/// <reference lib="dom" />
/**
 * A Wallet Standard wallet for browser tests, registered in the page the way an extension
 * registers itself (the `wallet-standard:register-wallet` / `wallet-standard:app-ready` events). It
 * holds a real ed25519 key made with WebCrypto and counts what it is asked to sign (messages in
 * `signs`, transactions in `transactionSigns`), so a test can prove that connecting asks for exactly
 * one signature and later clicks ask for none, and that a deposit is one transaction prompt.
 * It runs inside the page (addInitScript), so it imports nothing.
 */
export function installTestWallet(): void {
  const state = { signs: 0, transactionSigns: 0, connects: 0, publicKey: '' };
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
    return { address: state.publicKey, publicKey, chains: ['solana:localnet'], features: ['solana:signMessage', 'solana:signTransaction'] };
  });
  /** compact-u16 at `offset`: its value and how many bytes it took. */
  const compactU16 = (bytes: Uint8Array, offset: number): { value: number; size: number } => {
    let value = 0;
    for (let i = 0; i < 3; i++) {
      const byte = bytes[offset + i]!;
      value |= (byte & 0x7f) << (7 * i);
      if ((byte & 0x80) === 0) return { value, size: i + 1 };
    }
    throw new Error('bad compact-u16');
  };
  /**
   * Signs a legacy wire transaction as a wallet does: the count of signatures (compact-u16), the
   * 64-byte signatures, then the message, whose header's first byte is the number of signers and
   * whose account keys (after a compact-u16 count) list the signers first, fee payer first. This
   * wallet's signature goes in the slot of its key; the message is signed as it is.
   */
  const signTransaction = async (pair: CryptoKeyPair, publicKey: Uint8Array, transaction: Uint8Array): Promise<Uint8Array> => {
    const count = compactU16(transaction, 0);
    const messageStart = count.size + 64 * count.value;
    const message = transaction.slice(messageStart);
    const required = message[0]!;
    const keys = compactU16(message, 3);
    let slot = -1;
    for (let i = 0; i < required; i++) {
      const key = message.subarray(3 + keys.size + 32 * i, 3 + keys.size + 32 * (i + 1));
      if (key.every((b, j) => b === publicKey[j])) slot = i;
    }
    if (slot < 0 || slot >= count.value) throw new Error('Test Wallet: this transaction does not need my signature');
    const signature = new Uint8Array(await crypto.subtle.sign('Ed25519', pair.privateKey, message));
    const signed = transaction.slice();
    signed.set(signature, count.size + 64 * slot);
    return signed;
  };
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
      'solana:signTransaction': {
        version: '1.0.0',
        supportedTransactionVersions: ['legacy'],
        signTransaction: async (...inputs: { transaction: Uint8Array }[]) => {
          const pair = await keys;
          const { publicKey } = await account;
          return Promise.all(
            inputs.map(async ({ transaction }) => {
              state.transactionSigns++;
              return { signedTransaction: await signTransaction(pair, publicKey, transaction) };
            }),
          );
        },
      },
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
