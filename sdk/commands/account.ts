import { formatDoug } from '../../durable-objects/domain/money.ts';
import { UsageError, doug, dougArg, durationArg, keyValues, table } from '../format.ts';
import { type CommandDef, PAGE_FLAGS, depositOnChain, depositText, eventsText, optional, pageArgs, str } from './context.ts';
import { sendCosignedWithdrawal } from '../deposit.ts';

/** Money: balances, the faucet, deposits, withdrawals, the audit. */
export const accountCommands: Record<string, CommandDef> = {
  balance: {
    usage: 'doug balance [KEY]',
    summary: "show an account's balance and holds (default: your key)",
    flags: {},
    positionals: [0, 1],
    run: async (ctx) => {
      const key = ctx.args.positionals[0] ?? (await ctx.ownKey());
      const client = ctx.reader();
      const [view, holds] = await Promise.all([client.account(key), client.holds(key)]);
      const balance = { ...view, holds: holds.items };
      ctx.out(balance, () => {
        let text = keyValues([
          ['account', balance.account],
          ['available', `${doug(balance.available)} DOUG`],
          ['held', `${doug(balance.held)} DOUG`],
          ['credited', `${doug(balance.credited)} DOUG`],
          ['withdrawn', `${doug(balance.withdrawn)} DOUG`],
          ['payouts sent', `${doug(balance.payoutsSent)} DOUG`],
          ['payouts received', `${doug(balance.payoutsReceived)} DOUG`],
        ]);
        if (balance.holds.length > 0) {
          text += '\n' + table(['HOLD', 'AMOUNT', 'REMAINING', 'STATUS'], balance.holds.map((h) => [h.holdId, doug(h.amount), doug(h.remaining), h.status]), { right: [1, 2] });
        }
        return text;
      });
    },
  },
  ledger: {
    usage: 'doug ledger [KEY] [--cursor C] [--limit N]',
    summary: "show an account's ledger (default: your key)",
    flags: { ...PAGE_FLAGS },
    positionals: [0, 1],
    run: async (ctx) => {
      const key = ctx.args.positionals[0] ?? (await ctx.ownKey());
      const page = await ctx.reader().ledger(key, pageArgs(ctx));
      ctx.out(page, () => eventsText(page, 'no entries'));
    },
  },
  faucet: {
    usage: 'doug faucet AMOUNT_DOUG [--deposit]',
    summary: 'get test DOUG (local mode only; signed): minted to your wallet on the local chain, or credited when the server has no chain',
    flags: { deposit: 'boolean' },
    positionals: [1, 1],
    details: ['--deposit   then deposit it (as `doug deposit AMOUNT_DOUG`), so that your balance has it'],
    run: async (ctx) => {
      const amount = dougArg('AMOUNT_DOUG', ctx.args.positionals[0]!);
      const client = await ctx.signer();
      const res = await client.faucet(amount);
      if (res.minted === undefined) {
        ctx.out(res, () =>
          keyValues([
            ['credited', `${doug(res.credited ?? amount)} DOUG`],
            ['account', client.accountKey ?? '-'],
            ['available', `${doug(res.available ?? '0')} DOUG`],
          ]),
        );
        return;
      }
      if (ctx.args.flags.deposit === true) {
        const deposited = await depositOnChain(ctx, client, amount);
        ctx.out({ faucet: res, deposit: deposited }, () =>
          keyValues([
            ['minted', `${doug(res.minted!)} DOUG to ${res.wallet}`],
            ['deposited', `${doug(deposited.amount)} DOUG to ${deposited.account}`],
            ['signature', deposited.signature],
          ]),
        );
        return;
      }
      ctx.out(res, () =>
        keyValues([
          ['minted', `${doug(res.minted!)} DOUG`],
          ['wallet', res.wallet ?? '-'],
          ['token account', res.tokenAccount ?? '-'],
          ['signature', res.signature ?? '-'],
          ['next', `${ctx.cmd(`deposit ${formatDoug(amount)}`)}   (the faucet fills your wallet; a deposit credits your balance)`],
        ]),
      );
    },
  },
  deposit: {
    usage: 'doug deposit AMOUNT_DOUG [--for ACCOUNT] | doug deposit --signature SIG',
    summary: 'move DOUG from your wallet into custody and have it credited to your balance (signed)',
    flags: { for: 'string', signature: 'string' },
    positionals: [0, 1],
    details: [
      '--for ACCOUNT     credit another account (its public key) instead of yours',
      '--signature SIG   submit a transfer already on chain (e.g. after a failed submission)',
      'The transfer (TransferChecked and the memo doug:deposit:<account>) is signed with your key,',
      'sent to the chain that GET /v1/chain names, and submitted once finalized.',
    ],
    run: async (ctx) => {
      const client = await ctx.signer();
      const signature = str(ctx.args.flags.signature);
      if (signature !== undefined) {
        if (ctx.args.positionals.length > 0) throw new UsageError('give AMOUNT_DOUG or --signature, not both');
        const res = await client.deposit(signature);
        ctx.out(res, () => depositText(res));
        return;
      }
      if (ctx.args.positionals.length === 0) throw new UsageError('missing argument; usage: doug deposit AMOUNT_DOUG');
      const amount = dougArg('AMOUNT_DOUG', ctx.args.positionals[0]!);
      const account = str(ctx.args.flags.for);
      if (account !== undefined && !/^[1-9A-HJ-NP-Za-km-z]{32,44}$/.test(account)) throw new UsageError(`--for: ${JSON.stringify(account)} is not a base58 account key`);
      const res = await depositOnChain(ctx, client, amount, account);
      ctx.out(res, () => depositText(res));
    },
  },
  withdraw: {
    usage: 'doug withdraw AMOUNT_DOUG [--to WALLET] [--client-id ID] [--no-wait] [--timeout 2m]',
    summary: 'pay DOUG out of your balance to a wallet on chain (signed by the wallet itself); waits until it is final',
    flags: { to: 'string', 'client-id': 'string', 'no-wait': 'boolean', timeout: 'string' },
    positionals: [1, 1],
    details: [
      '--to WALLET        the wallet to pay (base58); default: your key',
      '--client-id ID     repeat a withdrawal with the same id: it is paid once (default: a new id)',
      '--no-wait          print the withdrawal as accepted, without waiting for the chain',
      '--timeout 2m       how long to wait for the transfer to be final (exit 1 when it is not)',
    ],
    run: async (ctx) => {
      const f = ctx.args.flags;
      const amount = dougArg('AMOUNT_DOUG', ctx.args.positionals[0]!);
      const destination = str(f.to);
      if (destination !== undefined && !/^[1-9A-HJ-NP-Za-km-z]{32,44}$/.test(destination)) throw new UsageError(`--to: ${JSON.stringify(destination)} is not a base58 wallet address`);
      const timeout = optional(ctx, 'timeout', (v) => durationArg('--timeout', v)) ?? 120_000;
      const client = await ctx.signer();
      let w = await client.withdraw({ amount, ...(destination && { destination }), ...(str(f['client-id']) && { clientId: str(f['client-id'])! }) });
      if (w.cosigned) {
        // Escrow custody: the marketplace co-signed the escrow's withdraw; this key signs and sends it.
        const sent = await sendCosignedWithdrawal({ chain: await client.chain(), wallet: await ctx.key(), withdrawal: w });
        ctx.io.stderr(`withdrawal ${sent.signature} from your escrow is final\n`);
      }
      const deadline = Date.now() + timeout;
      while (f['no-wait'] !== true && (w.status === 'requested' || w.status === 'funded') && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        w = await client.withdrawal(w.withdrawalId);
      }
      ctx.out(w, () =>
        keyValues([
          ['withdrawal', w.withdrawalId],
          ['status', w.status],
          ['amount', `${doug(w.amount)} DOUG`],
          ['to', w.destination],
          ['signature', w.signature ?? '-'],
          ...(w.refund ? [['refunded', `${w.refund.reason}: ${w.refund.detail}`] as [string, string]] : []),
        ]),
      );
      if (f['no-wait'] === true) return 0;
      if (w.status !== 'paid') {
        ctx.io.stderr(w.status === 'funded' || w.status === 'requested' ? `withdrawal ${w.withdrawalId} is not final yet (${w.status}); check it with the same --client-id or GET /v1/withdrawals/${w.withdrawalId}\n` : `withdrawal ${w.withdrawalId} was ${w.status}\n`);
        return 1;
      }
      return 0;
    },
  },
  audit: {
    usage: 'doug audit',
    summary: 'check money conservation over all accounts (exit 1 when it fails)',
    flags: {},
    positionals: [0, 0],
    run: async (ctx) => {
      const report = await ctx.reader().audit();
      ctx.out(report, () =>
        keyValues([
          ['ok', String(report.ok)],
          ['accounts', String(report.accounts)],
          ['available', `${doug(report.available)} DOUG`],
          ['held', `${doug(report.held)} DOUG`],
          ['credited', `${doug(report.credited)} DOUG`],
          ['withdrawn', `${doug(report.withdrawn)} DOUG`],
          ['in flight', `${doug(report.inFlight)} DOUG`],
          ['fee pool', `${doug(report.feePool)} DOUG`],
          ['violations', report.violations.length === 0 ? 'none' : report.violations.join(', ')],
          ...(report.custody
            ? ([
                ['custody on chain', `${doug(report.custody.onChain)} DOUG`],
                ['custody owed', `${doug(report.custody.expected)} DOUG (withdrawals in flight ${doug(report.custody.withdrawalsInFlight)})`],
                ['custody ok', `${report.custody.ok}${report.custody.unclaimed !== '0' ? ` (${doug(report.custody.unclaimed)} DOUG unclaimed)` : ''}`],
              ] as [string, string][])
            : []),
        ]),
      );
      if (!report.ok) {
        const custody = report.custody && !report.custody.ok ? `; custody holds ${doug(report.custody.onChain)} of the ${doug(report.custody.expected)} DOUG the ledger owes` : '';
        ctx.io.stderr(`error CLI__AUDIT_FAILED: conservation fails for ${report.violations.length} account(s)${custody}\n`);
        return 1;
      }
    },
  },
};
