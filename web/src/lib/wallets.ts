import { getWallets } from '@wallet-standard/core';
import type { Wallet, WalletAccount } from '@wallet-standard/core';
import { encodeBase58 } from '$programs/client/base58.ts';
import { keypairFromSeed, type Keypair, type MessageSigner } from '$contracts/auth.ts';

/**
 * Wallets the portal can connect: any Wallet Standard wallet the browser offers that can sign
 * messages on Solana (Phantom, Solflare, Backpack, …), and, in local mode only, a development
 * wallet whose key lives in this browser's storage. A wallet that also offers
 * `solana:signTransaction` can deposit from the portal.
 */
export interface WalletChoice {
  id: string;
  name: string;
  icon: string | null;
  kind: 'standard' | 'development';
  connect(): Promise<ConnectedWallet>;
}

export interface ConnectedWallet extends MessageSigner {
  id: string;
  name: string;
  kind: 'standard' | 'development';
  /** Signs a wire transaction (its signature slot for this key) and answers it signed: one prompt. Only wallets with `solana:signTransaction`. */
  signTransaction?(transaction: Uint8Array): Promise<Uint8Array>;
  disconnect(): Promise<void>;
}

const SIGN_MESSAGE = 'solana:signMessage';
const SIGN_TRANSACTION = 'solana:signTransaction';
const CONNECT = 'standard:connect';
const DISCONNECT = 'standard:disconnect';
export const DEV_WALLET_STORAGE = 'doug.devWallet.seed';

type SignMessageFeature = {
  signMessage(...inputs: { account: WalletAccount; message: Uint8Array }[]): Promise<{ signedMessage: Uint8Array; signature: Uint8Array }[]>;
};
// The shape of @solana/wallet-standard-features' SolanaSignTransactionFeature, the part used here.
type SignTransactionFeature = {
  signTransaction(...inputs: { account: WalletAccount; transaction: Uint8Array; chain?: string }[]): Promise<{ signedTransaction: Uint8Array }[]>;
};
type ConnectFeature = { connect(input?: { silent?: boolean }): Promise<{ accounts: readonly WalletAccount[] }> };
type DisconnectFeature = { disconnect(): Promise<void> };

function feature<T>(wallet: Wallet, name: string): T | null {
  return ((wallet.features as Record<string, unknown>)[name] as T | undefined) ?? null;
}

function usable(wallet: Wallet): boolean {
  return wallet.chains.some((c) => c.startsWith('solana:')) && feature(wallet, CONNECT) !== null && feature(wallet, SIGN_MESSAGE) !== null;
}

function standardChoice(wallet: Wallet): WalletChoice {
  return {
    id: `standard:${wallet.name}`,
    name: wallet.name,
    icon: wallet.icon,
    kind: 'standard',
    async connect(silent = false) {
      const { accounts } = await feature<ConnectFeature>(wallet, CONNECT)!.connect(silent ? { silent: true } : undefined);
      const account = accounts.find((a) => a.chains.some((c) => c.startsWith('solana:'))) ?? accounts[0];
      if (!account) throw new Error(`${wallet.name} shared no account`);
      const signTransaction = feature<SignTransactionFeature>(wallet, SIGN_TRANSACTION);
      return {
        id: `standard:${wallet.name}`,
        name: wallet.name,
        kind: 'standard',
        publicKey: encodeBase58(new Uint8Array(account.publicKey)),
        async signMessage(message: Uint8Array) {
          const [out] = await feature<SignMessageFeature>(wallet, SIGN_MESSAGE)!.signMessage({ account, message });
          if (!out) throw new Error(`${wallet.name} returned no signature`);
          return new Uint8Array(out.signature);
        },
        ...(signTransaction && {
          async signTransaction(transaction: Uint8Array) {
            const [out] = await signTransaction.signTransaction({ account, transaction });
            if (!out) throw new Error(`${wallet.name} returned no transaction`);
            return new Uint8Array(out.signedTransaction);
          },
        }),
        async disconnect() {
          await feature<DisconnectFeature>(wallet, DISCONNECT)?.disconnect();
        },
      };
    },
  } as WalletChoice;
}

/** The development wallet's keypair: made once, kept in localStorage. Local mode only. */
export async function developmentKeypair(): Promise<Keypair> {
  const stored = localStorage.getItem(DEV_WALLET_STORAGE);
  let seed: Uint8Array;
  if (stored && /^[0-9a-f]{64}$/.test(stored)) {
    seed = Uint8Array.from(stored.match(/../g)!.map((h) => parseInt(h, 16)));
  } else {
    seed = crypto.getRandomValues(new Uint8Array(32));
    localStorage.setItem(DEV_WALLET_STORAGE, [...seed].map((b) => b.toString(16).padStart(2, '0')).join(''));
  }
  return keypairFromSeed(seed);
}

const developmentChoice: WalletChoice = {
  id: 'development',
  name: 'Development wallet (local only)',
  icon: null,
  kind: 'development',
  async connect() {
    const keypair = await developmentKeypair();
    const key = await crypto.subtle.importKey(
      'pkcs8',
      Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20, ...keypair.secretKey.slice(0, 32)]),
      { name: 'Ed25519' },
      false,
      ['sign'],
    );
    return {
      id: 'development',
      name: 'Development wallet',
      kind: 'development',
      publicKey: keypair.publicKey,
      signMessage: async (message: Uint8Array) => new Uint8Array(await crypto.subtle.sign('Ed25519', key, message as Uint8Array<ArrayBuffer>)),
      async disconnect() {},
    };
  },
};

/** Wallets available now; `onChange` fires when a wallet extension registers later. */
export function listWallets(localMode: boolean, onChange: (choices: WalletChoice[]) => void): { choices: WalletChoice[]; stop: () => void } {
  const registry = getWallets();
  const current = (): WalletChoice[] => [...registry.get().filter(usable).map(standardChoice), ...(localMode ? [developmentChoice] : [])];
  const offs = [registry.on('register', () => onChange(current())), registry.on('unregister', () => onChange(current()))];
  return { choices: current(), stop: () => offs.forEach((off) => off()) };
}

/** Reconnects a wallet chosen before (silently for extensions that allow it). */
export async function reconnect(id: string, localMode: boolean): Promise<ConnectedWallet | null> {
  if (id === 'development') return localMode ? developmentChoice.connect() : null;
  const wallet = getWallets().get().find((w) => `standard:${w.name}` === id && usable(w));
  if (!wallet) return null;
  return (standardChoice(wallet).connect as (silent: boolean) => Promise<ConnectedWallet>)(true).catch(() => null);
}
