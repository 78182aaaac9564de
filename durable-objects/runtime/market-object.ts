import type { CommandMeta } from '../domain/decider.ts';
import { getOrder, marketDecider, nextExpiry, type MarketCommand, type MarketEvent, type MarketState } from '../domain/market/index.ts';
import { bookDepth, type BookDepth, type OrderView } from '../domain/market/view.ts';
import type { Result } from '../domain/result.ts';
import type { Env } from './env.ts';
import { AgentGateway, type Dispatch } from './agent-gateway.ts';
import { ChatRouter } from './chat-router.ts';
import type { ChatFaultView, ChatModelView, ChatRequest } from '../contracts/chat.ts';
import { EventSourcedObject } from './event-sourced-object.ts';
import type { MarketRpc, OrderOutcome } from './objects.ts';
import { marketParams } from './markets.ts';
import { governedMarketParams } from './chain.ts';
import { CHAIN_PARAMS_MAX_AGE_MS, PROTOCOL, type MarketParams } from '../domain/params.ts';

export type { OrderOutcome } from './objects.ts';

/**
 * A market snapshot holds the whole book (about 200 bytes an order), so it is taken every 5,000
 * events: a cold start replays at most that many, and a busy book is not re-serialised too often.
 */
export const MARKET_SNAPSHOT_EVERY = 5000;

const orderIdOf = (c: MarketCommand): string | null =>
  c.type === 'PlaceAsk' ? c.askId : c.type === 'PlaceBid' ? c.bidId : c.type === 'CancelOrder' ? c.orderId : null;

/** One market's order book: placement, cancellation, expiry and slot releases. */
export class MarketObject extends EventSourcedObject<MarketCommand, MarketEvent, MarketState> implements MarketRpc {
  protected readonly kind = 'market' as const;

  private readonly gateway: AgentGateway;
  private readonly chatRouter: ChatRouter;
  private configured = false;
  /** Governance's values for this market as last read on chain (escrow custody), and when. */
  private governed: { at: number; values: Partial<MarketParams> | null } | null = null;
  private reading = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, marketDecider, MARKET_SNAPSHOT_EVERY);
    this.gateway = new AgentGateway(
      ctx,
      env,
      () => this.name,
      (askId) => {
        const order = getOrder(this.store.state, askId);
        return order && order.side === 'ask' && (order.status === 'open' || order.status === 'suspended') ? order.owner : null;
      },
      () => this.schedule(Date.now()),
      () => this.store.state.params.leaseMs,
      (command, askId, now) => {
        const order = getOrder(this.store.state, askId);
        if (!order || order.side !== 'ask' || (command === 'ResumeAsk' && order.status !== 'suspended')) return;
        this.runOne(this.name, { type: command, askId }, { commandId: `${command}:${askId}:${now}`, actor: 'system:dispatch', now });
      },
      {
        announced: (socketId, stages) => this.chatRouter.announced(socketId, stages),
        received: (socketId, msg) => this.chatRouter.received(socketId, msg),
        answered: (socketId, msg) => this.chatRouter.answered(socketId, msg),
        gone: (socketId) => this.chatRouter.gone(socketId),
      },
    );
    this.chatRouter = new ChatRouter(
      ctx,
      env,
      () => this.gateway.stageHolders(),
      (socketId, message) => this.gateway.sendTo(socketId, message),
      () => this.schedule(Date.now()),
    );
  }

  /** The chat models this market's agents hold (collaborative inference). */
  async chatModels(market: string): Promise<ChatModelView[]> {
    this.remember(market);
    return this.chatRouter.models();
  }

  /** The holders a verification found at fault here, with their slashes. */
  async chatFaults(market: string): Promise<ChatFaultView[]> {
    this.remember(market);
    return this.chatRouter.faults();
  }

  /** Starts a chat completion over this market's stage holders: its events as JSON lines, or why not. */
  async chat(market: string, request: ChatRequest): Promise<Result<ReadableStream<Uint8Array>>> {
    this.remember(market);
    this.configure(market, Date.now());
    const params = this.store.state.params;
    return this.chatRouter.chat(request, { tokenPrice: params.chatTokenPrice ?? PROTOCOL.chatTokenPrice, feeBps: params.feeBps, verifyBps: params.chatVerifyBps ?? PROTOCOL.chatVerifyBps });
  }

  /** Agents connect here (the Worker forwards `GET /v1/markets/:market/agent` upgrades). */
  override async fetch(request: Request): Promise<Response> {
    const market = new URL(request.url).pathname.split('/')[3] ?? '';
    this.remember(market);
    return this.gateway.accept();
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    await this.gateway.message(ws, message);
  }

  override async webSocketClose(ws: WebSocket): Promise<void> {
    this.gateway.closed(ws);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.gateway.closed(ws);
  }

  protected override sweepAt(): number | null {
    const gateway = this.gateway.sweepAt();
    const slash = this.chatRouter.slashes.dueAt();
    return gateway === null ? slash : slash === null ? gateway : Math.min(gateway, slash);
  }

  protected override async sweep(now: number): Promise<void> {
    await this.gateway.sweep(now);
    await this.chatRouter.releaseStale(now);
    await this.chatRouter.slashes.drive();
  }

  /**
   * Replicas whose jobs exist (ReplicaDispatched) go to the agents; released slots cancel whatever an
   * agent still runs there. A match reaches its job through the outbox and comes back as the job's
   * DispatchReplica: when an agent is waiting for matched work, the outbox is delivered now rather
   * than at the next alarm, so the assignment follows the match within milliseconds; otherwise the
   * alarm delivers, in batches, off the intake path.
   */
  protected override afterCommit(events: MarketEvent[]): void {
    const dispatches: Dispatch[] = [];
    const matchedAsks: string[] = [];
    for (const e of events) {
      if (e.type === 'ReplicaDispatched') dispatches.push({ jobId: e.jobId, replica: e.replica, askId: e.askId, provider: e.provider });
      else if (e.type === 'BidMatched') for (const f of e.fills) matchedAsks.push(f.askId);
      else if (e.type === 'ReplicaMatched') matchedAsks.push(e.askId);
      else if (e.type === 'SlotReleased') this.gateway.released(e.askId, e.jobId);
    }
    if (dispatches.length > 0) this.ctx.waitUntil(this.gateway.dispatch(dispatches));
    if (matchedAsks.length > 0 && this.gateway.waitingFor(matchedAsks)) this.ctx.waitUntil(this.flush());
  }

  protected timer(state: MarketState) {
    const at = nextExpiry(state);
    return at === null ? null : { at, command: { type: 'ExpireOrders' } as MarketCommand };
  }

  /** Places or cancels one order. */
  async place(market: string, command: MarketCommand, meta: CommandMeta): Promise<Result<OrderOutcome>> {
    this.configure(market, meta.now);
    return this.outcome(command, this.runOne(market, command, meta));
  }

  /**
   * Brings the market's job parameters in line with the deployment's configuration, and with what
   * governance set on chain (the market's parameter account, the escrow's fee; a reading at most
   * CHAIN_PARAMS_MAX_AGE_MS old, taken again in the background: a change executed on chain applies
   * to the jobs created after the next reading).
   */
  private configure(market: string, now: number): void {
    if (!this.configured) {
      this.configured = true;
      this.applyParams(market, now);
    }
    if (this.reading || (this.governed && now - this.governed.at <= CHAIN_PARAMS_MAX_AGE_MS)) return;
    this.reading = true;
    this.ctx.waitUntil(
      governedMarketParams(this.env, market)
        .then((values) => {
          const changed = JSON.stringify(values) !== JSON.stringify(this.governed?.values ?? null);
          this.governed = { at: Date.now(), values };
          if (changed) this.applyParams(market, Date.now());
        })
        .catch((e: unknown) => {
          // Tried again after CHAIN_PARAMS_MAX_AGE_MS, not at every order meanwhile.
          this.governed = { at: Date.now(), values: this.governed?.values ?? null };
          console.warn(`market ${market}: governance's parameters could not be read (${e instanceof Error ? e.message : String(e)}); the last ones stand`);
        })
        .finally(() => (this.reading = false)),
    );
  }

  /** The deployment's parameters for the market, governance's on top; a ConfigureMarket when they differ from the book's. */
  private applyParams(market: string, now: number): void {
    const params = { ...marketParams(this.env, market), ...(this.governed?.values ?? {}) };
    this.runOne(market, { type: 'ConfigureMarket', params }, { commandId: `configure:${now}:${JSON.stringify(params)}`, actor: 'system:config', now });
  }

  /** Places several orders in one transaction; each gets its own outcome (the batch intake path). */
  async placeMany(market: string, commands: MarketCommand[], meta: CommandMeta, commandIds?: string[]): Promise<Result<OrderOutcome>[]> {
    this.configure(market, meta.now);
    return this.run(market, commands, meta, commandIds).map((r, i) => this.outcome(commands[i]!, r));
  }

  /** Aggregated book depth per price level. */
  async depth(market: string, levels: number): Promise<BookDepth> {
    this.remember(market);
    return bookDepth(this.store.state, levels);
  }

  /** One order as it stands, or null. */
  async order(id: string): Promise<OrderView | null> {
    return getOrder(this.store.state, id);
  }

  private outcome(command: MarketCommand, r: Result<{ events: MarketEvent[]; repeated: boolean }>): Result<OrderOutcome> {
    if (!r.ok) return r;
    const id = orderIdOf(command);
    return { ok: true, value: { events: r.value.events, repeated: r.value.repeated, order: id ? getOrder(this.store.state, id) : null } };
  }
}
