import { createDelegation, generateKeypair, keypairFromSeed, type Delegation, type DelegationScope } from '$contracts/auth.ts';
import { DougClient } from '$sdk/client.ts';
import type { DepositWallet } from '$sdk/deposit.ts';
import { api, apiBase } from './api.ts';
import { listWallets, reconnect, type ConnectedWallet, type WalletChoice } from './wallets.ts';

/**
 * The signed-in state of the portal (docs/architecture.md, "Protocols"). Connecting asks the wallet to sign once:
 * a delegation that lets a fresh session key, made in this browser, place and cancel orders for
 * SESSION_TTL_MS. Every request after that is signed by the session key, so the wallet is not asked
 * again. Withdrawals and the local faucet are never delegable: those ask the wallet itself.
 * Disconnecting revokes the session key on the server, then forgets it.
 */
export const SESSION_STORAGE = 'doug.session';
export const SESSION_TTL_MS = 8 * 60 * 60 * 1000;
export const SESSION_SCOPES: DelegationScope[] = ['asks', 'orders'];

interface StoredSession {
  walletId: string;
  walletName: string;
  seed: string;
  delegation: Delegation;
}

const hex = (bytes: Uint8Array): string => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
const unhex = (text: string): Uint8Array => Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16));

class Session {
  /** True once local mode and any stored session have been read. */
  ready = $state(false);
  localMode = $state(false);
  choices = $state.raw<WalletChoice[]>([]);
  /** The wallet's public key: the account every signed request acts for. */
  account = $state<string | null>(null);
  walletName = $state<string | null>(null);
  walletKind = $state<'standard' | 'development' | null>(null);
  expiresAt = $state<number | null>(null);
  /** Signs with the session key on the wallet's behalf. */
  client = $state.raw<DougClient | null>(null);
  private wallet: ConnectedWallet | null = null;
  private walletId: string | null = null;
  private stopListening: (() => void) | null = null;

  async init(): Promise<void> {
    if (this.ready) return;
    try {
      const health = await api.health();
      this.localMode = health.localMode === true;
    } catch {
      this.localMode = false;
    }
    const listing = listWallets(this.localMode, (choices) => (this.choices = choices));
    this.choices = listing.choices;
    this.stopListening = listing.stop;
    this.restore();
    this.ready = true;
  }

  private restore(): void {
    const text = localStorage.getItem(SESSION_STORAGE);
    if (!text) return;
    try {
      const stored = JSON.parse(text) as StoredSession;
      if (stored.delegation.expiresAt <= Date.now() + 60_000) throw new Error('expired');
      if (stored.walletId === 'development' && !this.localMode) throw new Error('development wallet outside local mode');
      void keypairFromSeed(unhex(stored.seed)).then((keypair) => {
        this.adopt(stored, new DougClient({ baseUrl: apiBase(), keypair, delegation: stored.delegation }));
      });
    } catch {
      localStorage.removeItem(SESSION_STORAGE);
    }
  }

  private adopt(stored: StoredSession, client: DougClient): void {
    this.walletId = stored.walletId;
    this.account = stored.delegation.wallet;
    this.walletName = stored.walletName;
    this.walletKind = stored.walletId === 'development' ? 'development' : 'standard';
    this.expiresAt = stored.delegation.expiresAt;
    this.client = client;
  }

  /** Connects a wallet and has it authorise a new session key (one signature). */
  async connect(choice: WalletChoice): Promise<void> {
    const wallet = await choice.connect();
    const sessionKey = await generateKeypair();
    const delegation = await createDelegation(wallet, { delegate: sessionKey.publicKey, scopes: SESSION_SCOPES, expiresAt: Date.now() + SESSION_TTL_MS });
    const stored: StoredSession = { walletId: wallet.id, walletName: wallet.name, seed: hex(sessionKey.secretKey.slice(0, 32)), delegation };
    localStorage.setItem(SESSION_STORAGE, JSON.stringify(stored));
    this.wallet = wallet;
    this.adopt(stored, new DougClient({ baseUrl: apiBase(), keypair: sessionKey, delegation }));
  }

  /** Revokes the session key on the server (best effort when offline), then forgets it. */
  async disconnect(): Promise<void> {
    const client = this.client;
    const wallet = this.wallet;
    // Revoke first: the page says "disconnected" only once the server refuses the key. If the server
    // cannot be reached, the key is forgotten anyway (it expires with its delegation) and the error shows.
    let failure: unknown = null;
    try {
      if (client) await client.revokeSession();
    } catch (e) {
      failure = e;
    }
    localStorage.removeItem(SESSION_STORAGE);
    this.client = null;
    this.account = null;
    this.walletName = null;
    this.walletKind = null;
    this.expiresAt = null;
    this.wallet = null;
    this.walletId = null;
    await wallet?.disconnect().catch(() => undefined);
    if (failure) throw failure;
  }

  /**
   * A client signed by the wallet itself, for the few actions a session key may not take (the local
   * faucet; withdrawals). Reconnects the wallet when the page was reloaded; the wallet may prompt.
   */
  async ownerClient(): Promise<DougClient> {
    return new DougClient({ baseUrl: apiBase(), keypair: await this.ownerWallet() });
  }

  /**
   * Has the wallet itself sign a delegation to another key (an agent's), for `scopes` until
   * `expiresAt`. Reconnects the wallet when the page was reloaded; the wallet prompts to sign (the
   * development wallet signs without asking).
   */
  async signDelegation(delegate: string, scopes: DelegationScope[], expiresAt: number): Promise<Delegation> {
    return createDelegation(await this.ownerWallet(), { delegate, scopes, expiresAt });
  }

  /**
   * The wallet as the signer of a deposit's transfer: the development wallet signs the message
   * itself; a Wallet Standard wallet signs the whole transaction through `solana:signTransaction`
   * (one prompt). Wallets without that feature cannot deposit from the portal.
   */
  async transactionSigner(): Promise<DepositWallet> {
    const wallet = await this.ownerWallet();
    if (wallet.kind === 'development') return wallet;
    const signTransaction = wallet.signTransaction;
    if (!signTransaction) throw new Error(`${wallet.name} cannot sign Solana transactions (solana:signTransaction): deposit with \`doug deposit\` from a terminal instead`);
    return { publicKey: wallet.publicKey, signTransaction: (bytes) => signTransaction(bytes) };
  }

  /** The connected wallet that opened this session, reconnected if needed. */
  private async ownerWallet(): Promise<ConnectedWallet> {
    if (!this.account || !this.walletId) throw new Error('connect a wallet first');
    if (!this.wallet) this.wallet = await reconnect(this.walletId, this.localMode);
    if (!this.wallet || this.wallet.publicKey !== this.account) throw new Error('reconnect the wallet that opened this session');
    return this.wallet;
  }

  /** The signed client, or an error a page can show when no wallet is connected. */
  requireClient(): DougClient {
    if (!this.client) throw new Error('connect a wallet first');
    return this.client;
  }

  dispose(): void {
    this.stopListening?.();
  }
}

export const session = new Session();
