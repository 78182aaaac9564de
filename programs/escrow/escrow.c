/*
 * DougAI escrow program. Its interface (instruction numbers, account layouts, error codes) is
 * programs/escrow/idl.ts, rendered into escrow_idl.h; the rules are in idl.ts's header comment.
 *
 * Every account is checked before use: signers, the program that owns it, the address derived for
 * it (PDAs with their stored bumps), the mint of each token account and the programs called.
 */
#include "escrow_idl.h"
#include "../staking/staking_idl.h"
#define PROGRAM_ERR(name) ESCROW_ERR_##name
#include "program.h"

/* Account infos, then a settlement's per-provider sums, on the heap. */
#define MAX_ACCOUNTS 128
#define MAX_PROVIDERS (MAX_ACCOUNTS - ESCROW_IX_SETTLE_ACCOUNTS)

static const u8 SEED_CONFIG[] = "config";
static const u8 SEED_ESCROW[] = "escrow";
static const u8 SEED_VAULT[] = "vault";

/* The program's configuration, checked: ours, of its kind, at its PDA. */
__attribute__((noinline)) static u64 check_config(const SolAccountInfo *config, const SolPubkey *program) {
  if (!pubkey_eq(config->owner, program)) return ERR(WRONG_OWNER);
  if (config->data_len != ESCROW_CONFIG_SIZE || config->data[0] != ESCROW_CONFIG_KIND) return ERR(WRONG_ADDRESS);
  u8 bump = config->data[ESCROW_CONFIG_BUMP_AT];
  SolSignerSeed seeds[2] = {SEED(SEED_CONFIG), {&bump, 1}};
  if (!derives(seeds, 2, program, config->key)) return ERR(WRONG_ADDRESS);
  return SUCCESS;
}

/* A buyer's escrow, checked: ours, of its kind, at its PDA; and its vault at the vault PDA. */
__attribute__((noinline)) static u64 check_escrow(const SolAccountInfo *escrow, const SolAccountInfo *vault, const SolPubkey *program) {
  if (!pubkey_eq(escrow->owner, program)) return ERR(WRONG_OWNER);
  if (escrow->data_len != ESCROW_SIZE || escrow->data[0] != ESCROW_KIND) return ERR(WRONG_ADDRESS);
  u8 bump = escrow->data[ESCROW_BUMP_AT];
  SolSignerSeed seeds[3] = {SEED(SEED_ESCROW), {field(escrow, ESCROW_BUYER_AT), 32}, {&bump, 1}};
  if (!derives(seeds, 3, program, escrow->key)) return ERR(WRONG_ADDRESS);
  if (vault) {
    u8 vault_bump = escrow->data[ESCROW_VAULT_BUMP_AT];
    SolSignerSeed vseeds[3] = {SEED(SEED_VAULT), {escrow->key->x, 32}, {&vault_bump, 1}};
    if (!derives(vseeds, 3, program, vault->key)) return ERR(WRONG_ADDRESS);
  }
  return SUCCESS;
}

/* The buyer named by the escrow signed. */
static inline u64 check_buyer(const SolAccountInfo *buyer, const SolAccountInfo *escrow) {
  if (!buyer->is_signer) return ERR(MISSING_SIGNER);
  if (!pubkey_eq(buyer->key, key_at(escrow, ESCROW_BUYER_AT))) return ERR(NOT_BUYER);
  return SUCCESS;
}

/*
 * The parameters initializeConfig and updateConfig carry, in the same order: fee, stakers' share,
 * timelock, read from `params` (the first of them).
 */
#define PARAMS_SHARE (ESCROW_IX_INITIALIZE_CONFIG_STAKERS_SHARE_BPS_AT - ESCROW_IX_INITIALIZE_CONFIG_FEE_BPS_AT)
#define PARAMS_TIMELOCK (ESCROW_IX_INITIALIZE_CONFIG_WITHDRAW_TIMELOCK_SECONDS_AT - ESCROW_IX_INITIALIZE_CONFIG_FEE_BPS_AT)
_Static_assert(ESCROW_IX_UPDATE_CONFIG_STAKERS_SHARE_BPS_AT - ESCROW_IX_UPDATE_CONFIG_FEE_BPS_AT == PARAMS_SHARE, "updateConfig's parameters as initializeConfig's");
_Static_assert(ESCROW_IX_UPDATE_CONFIG_WITHDRAW_TIMELOCK_SECONDS_AT - ESCROW_IX_UPDATE_CONFIG_FEE_BPS_AT == PARAMS_TIMELOCK, "updateConfig's parameters as initializeConfig's");

static u64 check_bounds(const u8 *params) {
  if (read_u16(params) > ESCROW_MAX_FEE_BPS || read_u16(params + PARAMS_SHARE) > 10000) return ERR(INVALID_PARAMETER);
  u64 timelock = read_u64(params + PARAMS_TIMELOCK);
  if (timelock < ESCROW_MIN_WITHDRAW_TIMELOCK_SECONDS || timelock > ESCROW_MAX_WITHDRAW_TIMELOCK_SECONDS) return ERR(INVALID_PARAMETER);
  return SUCCESS;
}

__attribute__((noinline)) static u64 write_params(const SolAccountInfo *config, const u8 *params, const SolAccountInfo *reward_vault, const SolAccountInfo *treasury) {
  const SolPubkey *mint = key_at(config, ESCROW_CONFIG_MINT_AT);
  if (!is_token_account_of(reward_vault, mint) || !is_token_account_of(treasury, mint)) return ERR(WRONG_MINT);
  write_u16(field(config, ESCROW_CONFIG_FEE_BPS_AT), read_u16(params));
  write_u16(field(config, ESCROW_CONFIG_STAKERS_SHARE_BPS_AT), read_u16(params + PARAMS_SHARE));
  write_u64(field(config, ESCROW_CONFIG_WITHDRAW_TIMELOCK_SECONDS_AT), read_u64(params + PARAMS_TIMELOCK));
  copy_bytes(field(config, ESCROW_CONFIG_REWARD_VAULT_AT), reward_vault->key->x, 32);
  copy_bytes(field(config, ESCROW_CONFIG_TREASURY_AT), treasury->key->x, 32);
  return SUCCESS;
}

static u64 initialize_config(SolParameters *p) {
  if (p->ka_num < ESCROW_IX_INITIALIZE_CONFIG_ACCOUNTS || p->data_len != ESCROW_IX_INITIALIZE_CONFIG_DATA_LEN) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *admin = &p->ka[ESCROW_IX_INITIALIZE_CONFIG_ADMIN], *config = &p->ka[ESCROW_IX_INITIALIZE_CONFIG_CONFIG], *mint = &p->ka[ESCROW_IX_INITIALIZE_CONFIG_MINT];
  if (!admin->is_signer) return ERR(MISSING_SIGNER);
  if (!pubkey_eq(p->ka[ESCROW_IX_INITIALIZE_CONFIG_SYSTEM_PROGRAM].key, &SYSTEM_PROGRAM_ID)) return ERR(WRONG_PROGRAM);
  if (!pubkey_eq(config->owner, &SYSTEM_PROGRAM_ID) || config->data_len != 0) return ERR(ALREADY_INITIALIZED);
  if (!is_mint(mint)) return ERR(WRONG_MINT);
  TRY(check_bounds(p->data + ESCROW_IX_INITIALIZE_CONFIG_FEE_BPS_AT));
  const SolPubkey *authority = (const SolPubkey *)(p->data + ESCROW_IX_INITIALIZE_CONFIG_AUTHORITY_AT);
  if (is_zero_key(authority)) return ERR(INVALID_PARAMETER);

  SolSignerSeed find[1] = {SEED(SEED_CONFIG)};
  u8 bump;
  if (!finds(find, 1, p->program_id, config->key, &bump)) return ERR(WRONG_ADDRESS);
  SolSignerSeed seeds[2] = {SEED(SEED_CONFIG), {&bump, 1}};
  SolSignerSeeds signer = {seeds, 2};
  Cpi cpi = {p->ka, p->ka_num, &signer};
  TRY(create_account(&cpi, admin, config, ESCROW_CONFIG_SIZE, p->program_id));

  config->data[0] = ESCROW_CONFIG_KIND;
  config->data[ESCROW_CONFIG_BUMP_AT] = bump;
  copy_bytes(field(config, ESCROW_CONFIG_ADMIN_AT), admin->key->x, 32);
  copy_bytes(field(config, ESCROW_CONFIG_AUTHORITY_AT), authority->x, 32);
  copy_bytes(field(config, ESCROW_CONFIG_MINT_AT), mint->key->x, 32);
  copy_bytes(field(config, ESCROW_CONFIG_STAKING_PROGRAM_AT), p->data + ESCROW_IX_INITIALIZE_CONFIG_STAKING_PROGRAM_AT, 32);
  copy_bytes(field(config, ESCROW_CONFIG_STAKING_CONFIG_AT), p->data + ESCROW_IX_INITIALIZE_CONFIG_STAKING_CONFIG_AT, 32);
  return write_params(config, p->data + ESCROW_IX_INITIALIZE_CONFIG_FEE_BPS_AT, &p->ka[ESCROW_IX_INITIALIZE_CONFIG_REWARD_VAULT], &p->ka[ESCROW_IX_INITIALIZE_CONFIG_TREASURY]);
}

static u64 update_config(SolParameters *p) {
  if (p->ka_num < ESCROW_IX_UPDATE_CONFIG_ACCOUNTS || p->data_len != ESCROW_IX_UPDATE_CONFIG_DATA_LEN) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *admin = &p->ka[ESCROW_IX_UPDATE_CONFIG_ADMIN], *config = &p->ka[ESCROW_IX_UPDATE_CONFIG_CONFIG];
  TRY(check_config(config, p->program_id));
  if (!admin->is_signer) return ERR(MISSING_SIGNER);
  if (!pubkey_eq(admin->key, key_at(config, ESCROW_CONFIG_ADMIN_AT))) return ERR(NOT_ADMIN);
  TRY(check_bounds(p->data + ESCROW_IX_UPDATE_CONFIG_FEE_BPS_AT));
  const SolPubkey *new_admin = (const SolPubkey *)(p->data + ESCROW_IX_UPDATE_CONFIG_NEW_ADMIN_AT);
  if (is_zero_key(new_admin)) return ERR(INVALID_PARAMETER);
  TRY(write_params(config, p->data + ESCROW_IX_UPDATE_CONFIG_FEE_BPS_AT, &p->ka[ESCROW_IX_UPDATE_CONFIG_REWARD_VAULT], &p->ka[ESCROW_IX_UPDATE_CONFIG_TREASURY]));
  copy_bytes(field(config, ESCROW_CONFIG_ADMIN_AT), new_admin->x, 32);
  return SUCCESS;
}

static u64 set_authority(SolParameters *p) {
  if (p->ka_num < ESCROW_IX_SET_AUTHORITY_ACCOUNTS || p->data_len != ESCROW_IX_SET_AUTHORITY_DATA_LEN) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *authority = &p->ka[ESCROW_IX_SET_AUTHORITY_AUTHORITY], *config = &p->ka[ESCROW_IX_SET_AUTHORITY_CONFIG];
  TRY(check_config(config, p->program_id));
  if (!authority->is_signer) return ERR(MISSING_SIGNER);
  if (!pubkey_eq(authority->key, key_at(config, ESCROW_CONFIG_AUTHORITY_AT))) return ERR(NOT_AUTHORITY);
  const SolPubkey *next = (const SolPubkey *)(p->data + ESCROW_IX_SET_AUTHORITY_NEW_AUTHORITY_AT);
  if (is_zero_key(next)) return ERR(INVALID_PARAMETER);
  copy_bytes(field(config, ESCROW_CONFIG_AUTHORITY_AT), next->x, 32);
  return SUCCESS;
}

static u64 open_escrow(SolParameters *p) {
  if (p->ka_num < ESCROW_IX_OPEN_ESCROW_ACCOUNTS || p->data_len != ESCROW_IX_OPEN_ESCROW_DATA_LEN) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *buyer = &p->ka[ESCROW_IX_OPEN_ESCROW_BUYER], *escrow = &p->ka[ESCROW_IX_OPEN_ESCROW_ESCROW], *vault = &p->ka[ESCROW_IX_OPEN_ESCROW_VAULT], *config = &p->ka[ESCROW_IX_OPEN_ESCROW_CONFIG],
                 *mint = &p->ka[ESCROW_IX_OPEN_ESCROW_MINT];
  if (!buyer->is_signer) return ERR(MISSING_SIGNER);
  TRY(check_config(config, p->program_id));
  TRY(check_mint(mint, key_at(config, ESCROW_CONFIG_MINT_AT)));
  if (!pubkey_eq(p->ka[ESCROW_IX_OPEN_ESCROW_SYSTEM_PROGRAM].key, &SYSTEM_PROGRAM_ID)) return ERR(WRONG_PROGRAM);
  TRY(check_token_program(&p->ka[ESCROW_IX_OPEN_ESCROW_TOKEN_PROGRAM]));
  if (!pubkey_eq(escrow->owner, &SYSTEM_PROGRAM_ID) || escrow->data_len != 0) return ERR(ALREADY_INITIALIZED);

  u8 bump, vault_bump;
  SolSignerSeed find[2] = {SEED(SEED_ESCROW), {buyer->key->x, 32}};
  if (!finds(find, 2, p->program_id, escrow->key, &bump)) return ERR(WRONG_ADDRESS);
  SolSignerSeed vfind[2] = {SEED(SEED_VAULT), {escrow->key->x, 32}};
  if (!finds(vfind, 2, p->program_id, vault->key, &vault_bump)) return ERR(WRONG_ADDRESS);

  SolSignerSeed seeds[3] = {SEED(SEED_ESCROW), {buyer->key->x, 32}, {&bump, 1}};
  SolSignerSeeds signer = {seeds, 3};
  Cpi as_escrow = {p->ka, p->ka_num, &signer};
  TRY(create_account(&as_escrow, buyer, escrow, ESCROW_SIZE, p->program_id));
  SolSignerSeed vseeds[3] = {SEED(SEED_VAULT), {escrow->key->x, 32}, {&vault_bump, 1}};
  SolSignerSeeds vsigner = {vseeds, 3};
  Cpi as_vault = {p->ka, p->ka_num, &vsigner};
  TRY(create_account(&as_vault, buyer, vault, TOKEN_ACCOUNT_SIZE, &TOKEN_PROGRAM_ID));
  TRY(token_initialize_account(&as_vault, vault, mint, escrow->key));

  escrow->data[0] = ESCROW_KIND;
  escrow->data[ESCROW_BUMP_AT] = bump;
  escrow->data[ESCROW_VAULT_BUMP_AT] = vault_bump;
  copy_bytes(field(escrow, ESCROW_BUYER_AT), buyer->key->x, 32);
  return SUCCESS;
}

static u64 deposit(SolParameters *p) {
  if (p->ka_num < ESCROW_IX_DEPOSIT_ACCOUNTS || p->data_len != ESCROW_IX_DEPOSIT_DATA_LEN) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *buyer = &p->ka[ESCROW_IX_DEPOSIT_BUYER], *source = &p->ka[ESCROW_IX_DEPOSIT_BUYER_TOKEN_ACCOUNT], *escrow = &p->ka[ESCROW_IX_DEPOSIT_ESCROW], *vault = &p->ka[ESCROW_IX_DEPOSIT_VAULT],
                 *config = &p->ka[ESCROW_IX_DEPOSIT_CONFIG], *mint = &p->ka[ESCROW_IX_DEPOSIT_MINT];
  TRY(check_config(config, p->program_id));
  TRY(check_escrow(escrow, vault, p->program_id));
  TRY(check_buyer(buyer, escrow));
  TRY(check_mint(mint, key_at(config, ESCROW_CONFIG_MINT_AT)));
  TRY(check_token_program(&p->ka[ESCROW_IX_DEPOSIT_TOKEN_PROGRAM]));
  if (!is_token_account_of(source, mint->key)) return ERR(WRONG_MINT);
  u64 amount = read_u64(p->data + ESCROW_IX_DEPOSIT_AMOUNT_AT);
  if (amount == 0) return ERR(ZERO_AMOUNT);
  if (token_amount(source) < amount) return ERR(INSUFFICIENT_FUNDS);
  Cpi cpi = {p->ka, p->ka_num, NULL};
  Transfer t = {source, mint, vault, buyer->key, amount};
  return token_transfer(&cpi, &t);
}

/* What pays out of an escrow's vault: the instruction's accounts, the escrow (whose PDA signs), its vault and the mint. */
typedef struct {
  SolParameters *p;
  const SolAccountInfo *escrow;
  const SolAccountInfo *vault;
  const SolAccountInfo *mint;
} Payer;

/* Pays `amount` out of the vault, signed by the escrow's PDA. */
__attribute__((noinline)) static u64 pay_from_vault(const Payer *from, const SolAccountInfo *to, u64 amount) {
  if (amount == 0) return SUCCESS;
  u8 bump = from->escrow->data[ESCROW_BUMP_AT];
  SolSignerSeed seeds[3] = {SEED(SEED_ESCROW), {field(from->escrow, ESCROW_BUYER_AT), 32}, {&bump, 1}};
  SolSignerSeeds signer = {seeds, 3};
  Cpi cpi = {from->p->ka, from->p->ka_num, &signer};
  Transfer t = {from->vault, from->mint, to, from->escrow->key, amount};
  return token_transfer(&cpi, &t);
}

typedef struct {
  u64 gross;
  u64 fee;
} Totals;

/*
 * The stakers' share of a batch's fees, by CPI to the staking program's distribute: out of the
 * vault, the escrow's PDA signing as the source's authority.
 */
__attribute__((noinline)) static u64 pay_stakers(const Payer *from, u64 amount) {
  if (amount == 0) return SUCCESS;
  SolAccountInfo *ka = from->p->ka;
  u8 data[STAKING_IX_DISTRIBUTE_DATA_LEN];
  data[0] = STAKING_IX_DISTRIBUTE;
  write_u64(data + STAKING_IX_DISTRIBUTE_AMOUNT_AT, amount);
  SolAccountMeta metas[STAKING_IX_DISTRIBUTE_ACCOUNTS];
  metas[STAKING_IX_DISTRIBUTE_SOURCE_AUTHORITY] = (SolAccountMeta){from->escrow->key, false, true};
  metas[STAKING_IX_DISTRIBUTE_SOURCE] = (SolAccountMeta){from->vault->key, true, false};
  metas[STAKING_IX_DISTRIBUTE_CONFIG] = (SolAccountMeta){ka[ESCROW_IX_SETTLE_STAKING_CONFIG].key, true, false};
  metas[STAKING_IX_DISTRIBUTE_REWARD_VAULT] = (SolAccountMeta){ka[ESCROW_IX_SETTLE_REWARD_VAULT].key, true, false};
  metas[STAKING_IX_DISTRIBUTE_TREASURY] = (SolAccountMeta){ka[ESCROW_IX_SETTLE_TREASURY].key, true, false};
  metas[STAKING_IX_DISTRIBUTE_MINT] = (SolAccountMeta){from->mint->key, false, false};
  metas[STAKING_IX_DISTRIBUTE_TOKEN_PROGRAM] = (SolAccountMeta){ka[ESCROW_IX_SETTLE_TOKEN_PROGRAM].key, false, false};
  SolInstruction ix = {ka[ESCROW_IX_SETTLE_STAKING_PROGRAM].key, metas, STAKING_IX_DISTRIBUTE_ACCOUNTS, data, sizeof(data)};
  u8 bump = from->escrow->data[ESCROW_BUMP_AT];
  SolSignerSeed seeds[3] = {SEED(SEED_ESCROW), {field(from->escrow, ESCROW_BUYER_AT), 32}, {&bump, 1}};
  SolSignerSeeds signer = {seeds, 3};
  return sol_invoke_signed_c(&ix, ka, (int)from->p->ka_num, &signer, 1);
}

/*
 * Adds up a batch: each payout's fee (floor(gross × feeBps / 10,000), as the marketplace's ledger
 * computes it) and net, summed per provider account into `nets`; checks every provider account.
 */
__attribute__((noinline)) static u64 sum_batch(SolParameters *p, const SolAccountInfo *config, u64 *nets, u64 providers, Totals *totals) {
  u64 count = p->data[ESCROW_IX_SETTLE_PAYOUTS_AT];
  const u8 *entry = p->data + ESCROW_IX_SETTLE_PAYOUTS_AT + 1;
  u64 fee_bps = read_u16(field(config, ESCROW_CONFIG_FEE_BPS_AT));
  const SolPubkey *mint = key_at(config, ESCROW_CONFIG_MINT_AT);
  const SolPubkey *authority = key_at(config, ESCROW_CONFIG_AUTHORITY_AT);
  for (u64 i = 0; i < providers; i++) nets[i] = 0;
  u64 gross_sum = 0, fee_sum = 0;
  for (u64 i = 0; i < count; i++, entry += 9) {
    u64 index = entry[0];
    u64 gross = read_u64(entry + 1);
    if (index >= providers) return ERR(INVALID_INSTRUCTION);
    if (gross == 0) return ERR(ZERO_AMOUNT);
    const SolAccountInfo *provider = &p->ka[ESCROW_IX_SETTLE_ACCOUNTS + index];
    if (!is_token_account_of(provider, mint)) return ERR(WRONG_MINT);
    if (pubkey_eq(token_owner(provider), authority)) return ERR(PAYEE_IS_AUTHORITY);
    u64 fee = mul_bps(gross, fee_bps);
    if (gross_sum + gross < gross_sum) return ERR(OVERFLOW);
    gross_sum += gross;
    fee_sum += fee;
    nets[index] += gross - fee;
  }
  totals->gross = gross_sum;
  totals->fee = fee_sum;
  return SUCCESS;
}

/*
 * A settle's data and fixed accounts (its first `fixed` accounts, ESCROW_IX_SETTLE_ACCOUNTS or more):
 * the payouts' length, the authority's signature, the escrow and its vault, the mint, the programs,
 * the fee accounts the configuration names, the batch number the escrow expects next and the fee
 * the batch was priced at.
 */
__attribute__((noinline)) static u64 check_settle(SolParameters *p, u64 fixed) {
  if (p->ka_num < fixed || p->data_len < ESCROW_IX_SETTLE_PAYOUTS_AT + 1) return ERR(INVALID_INSTRUCTION);
  u64 count = p->data[ESCROW_IX_SETTLE_PAYOUTS_AT];
  if (p->data_len != ESCROW_IX_SETTLE_PAYOUTS_AT + 1 + 9 * count) return ERR(INVALID_INSTRUCTION);
  if (count == 0) return ERR(EMPTY_BATCH);
  SolAccountInfo *authority = &p->ka[ESCROW_IX_SETTLE_AUTHORITY], *config = &p->ka[ESCROW_IX_SETTLE_CONFIG], *escrow = &p->ka[ESCROW_IX_SETTLE_ESCROW], *vault = &p->ka[ESCROW_IX_SETTLE_VAULT],
                 *mint = &p->ka[ESCROW_IX_SETTLE_MINT], *reward_vault = &p->ka[ESCROW_IX_SETTLE_REWARD_VAULT], *treasury = &p->ka[ESCROW_IX_SETTLE_TREASURY];
  TRY(check_config(config, p->program_id));
  if (!authority->is_signer) return ERR(MISSING_SIGNER);
  if (!pubkey_eq(authority->key, key_at(config, ESCROW_CONFIG_AUTHORITY_AT))) return ERR(NOT_AUTHORITY);
  TRY(check_escrow(escrow, vault, p->program_id));
  TRY(check_mint(mint, key_at(config, ESCROW_CONFIG_MINT_AT)));
  TRY(check_token_program(&p->ka[ESCROW_IX_SETTLE_TOKEN_PROGRAM]));
  if (!pubkey_eq(reward_vault->key, key_at(config, ESCROW_CONFIG_REWARD_VAULT_AT)) || !pubkey_eq(treasury->key, key_at(config, ESCROW_CONFIG_TREASURY_AT))) return ERR(WRONG_FEE_ACCOUNT);
  if (!pubkey_eq(p->ka[ESCROW_IX_SETTLE_STAKING_PROGRAM].key, key_at(config, ESCROW_CONFIG_STAKING_PROGRAM_AT))) return ERR(WRONG_PROGRAM);
  if (!pubkey_eq(p->ka[ESCROW_IX_SETTLE_STAKING_CONFIG].key, key_at(config, ESCROW_CONFIG_STAKING_CONFIG_AT))) return ERR(WRONG_FEE_ACCOUNT);
  if (read_u64(p->data + ESCROW_IX_SETTLE_BATCH_AT) != read_u64(field(escrow, ESCROW_NEXT_BATCH_AT))) return ERR(BATCH_OUT_OF_ORDER);
  /* Priced at the fee in force: a batch priced before governance changed it is refused, and repriced. */
  if (read_u16(p->data + ESCROW_IX_SETTLE_FEE_BPS_AT) != read_u16(field(config, ESCROW_CONFIG_FEE_BPS_AT))) return ERR(FEE_CHANGED);
  return SUCCESS;
}

/* Pays a checked batch's fees: the stakers' share by CPI to the staking program, the rest to the treasury; and records the batch. */
__attribute__((noinline)) static u64 close_batch(const Payer *from, const SolAccountInfo *config, const Totals *totals) {
  SolParameters *p = from->p;
  u64 stakers = mul_bps(totals->fee, read_u16(field(config, ESCROW_CONFIG_STAKERS_SHARE_BPS_AT)));
  TRY(pay_stakers(from, stakers));
  TRY(pay_from_vault(from, &p->ka[ESCROW_IX_SETTLE_TREASURY], totals->fee - stakers));
  SolAccountInfo *escrow = &p->ka[ESCROW_IX_SETTLE_ESCROW];
  write_u64(field(escrow, ESCROW_NEXT_BATCH_AT), read_u64(field(escrow, ESCROW_NEXT_BATCH_AT)) + 1);
  write_u64(field(escrow, ESCROW_SETTLED_TOTAL_AT), read_u64(field(escrow, ESCROW_SETTLED_TOTAL_AT)) + totals->gross);
  copy_bytes(field(escrow, ESCROW_LAST_RECEIPTS_HASH_AT), p->data + ESCROW_IX_SETTLE_RECEIPTS_HASH_AT, 32);
  return SUCCESS;
}

/* The batch's gross fits the vault, and the escrow's running total. */
static inline u64 check_funds(const SolAccountInfo *escrow, const SolAccountInfo *vault, u64 gross) {
  if (gross > token_amount(vault)) return ERR(INSUFFICIENT_FUNDS);
  u64 settled = read_u64(field(escrow, ESCROW_SETTLED_TOTAL_AT));
  if (settled + gross < settled) return ERR(OVERFLOW);
  return SUCCESS;
}

static u64 settle(SolParameters *p) {
  TRY(check_settle(p, ESCROW_IX_SETTLE_ACCOUNTS));
  SolAccountInfo *config = &p->ka[ESCROW_IX_SETTLE_CONFIG], *escrow = &p->ka[ESCROW_IX_SETTLE_ESCROW], *vault = &p->ka[ESCROW_IX_SETTLE_VAULT], *mint = &p->ka[ESCROW_IX_SETTLE_MINT];
  u64 providers = p->ka_num - ESCROW_IX_SETTLE_ACCOUNTS;
  u64 *nets = (u64 *)(HEAP_START + MAX_ACCOUNTS * sizeof(SolAccountInfo));
  Totals totals;
  TRY(sum_batch(p, config, nets, providers, &totals));
  TRY(check_funds(escrow, vault, totals.gross));
  Payer from = {p, escrow, vault, mint};
  for (u64 i = 0; i < providers; i++) TRY(pay_from_vault(&from, &p->ka[ESCROW_IX_SETTLE_ACCOUNTS + i], nets[i]));
  return close_batch(&from, config, &totals);
}

static u64 request_withdrawal(SolParameters *p, bool cancel) {
  if (p->ka_num < ESCROW_IX_REQUEST_WITHDRAWAL_ACCOUNTS || p->data_len != ESCROW_IX_REQUEST_WITHDRAWAL_DATA_LEN) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *buyer = &p->ka[ESCROW_IX_REQUEST_WITHDRAWAL_BUYER], *escrow = &p->ka[ESCROW_IX_REQUEST_WITHDRAWAL_ESCROW];
  TRY(check_escrow(escrow, NULL, p->program_id));
  TRY(check_buyer(buyer, escrow));
  u8 *at = field(escrow, ESCROW_WITHDRAWAL_REQUESTED_AT_AT);
  if (cancel) write_u64(at, 0);
  /* A repeated request keeps the first one's time: asking again never restarts the clock. */
  else if (read_u64(at) == 0) {
    i64 now = now_unix();
    if (now <= 0) return ERR(INVALID_PARAMETER);
    write_u64(at, (u64)now);
  }
  return SUCCESS;
}

static u64 withdraw(SolParameters *p) {
  if (p->ka_num < ESCROW_IX_WITHDRAW_ACCOUNTS || p->data_len != ESCROW_IX_WITHDRAW_DATA_LEN) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *buyer = &p->ka[ESCROW_IX_WITHDRAW_BUYER], *authority = &p->ka[ESCROW_IX_WITHDRAW_AUTHORITY], *config = &p->ka[ESCROW_IX_WITHDRAW_CONFIG], *escrow = &p->ka[ESCROW_IX_WITHDRAW_ESCROW],
                 *vault = &p->ka[ESCROW_IX_WITHDRAW_VAULT], *destination = &p->ka[ESCROW_IX_WITHDRAW_BUYER_TOKEN_ACCOUNT], *mint = &p->ka[ESCROW_IX_WITHDRAW_MINT];
  TRY(check_config(config, p->program_id));
  TRY(check_escrow(escrow, vault, p->program_id));
  TRY(check_buyer(buyer, escrow));
  TRY(check_mint(mint, key_at(config, ESCROW_CONFIG_MINT_AT)));
  TRY(check_token_program(&p->ka[ESCROW_IX_WITHDRAW_TOKEN_PROGRAM]));
  if (!pubkey_eq(authority->key, key_at(config, ESCROW_CONFIG_AUTHORITY_AT))) return ERR(NOT_AUTHORITY);
  if (!is_token_account_of(destination, mint->key)) return ERR(WRONG_MINT);
  if (!pubkey_eq(token_owner(destination), buyer->key)) return ERR(NOT_BUYER);
  if (!authority->is_signer) {
    u64 requested = read_u64(field(escrow, ESCROW_WITHDRAWAL_REQUESTED_AT_AT));
    if (requested == 0) return ERR(NO_WITHDRAWAL_REQUESTED);
    u64 timelock = read_u64(field(config, ESCROW_CONFIG_WITHDRAW_TIMELOCK_SECONDS_AT));
    i64 now = now_unix();
    if (now <= 0 || (u64)now < requested + timelock) return ERR(TIMELOCK_NOT_ELAPSED);
  }
  u64 amount = read_u64(p->data + ESCROW_IX_WITHDRAW_AMOUNT_AT);
  if (amount == 0) return ERR(ZERO_AMOUNT);
  if (amount > token_amount(vault)) return ERR(INSUFFICIENT_FUNDS);
  Payer from = {p, escrow, vault, mint};
  return pay_from_vault(&from, destination, amount);
}

u64 entrypoint(const u8 *input) {
  SolParameters p;
  p.ka = (SolAccountInfo *)HEAP_START;
  if (!sol_deserialize(input, &p, MAX_ACCOUNTS)) return ERR(TOO_MANY_ACCOUNTS);
  if (p.data_len == 0) return ERR(INVALID_INSTRUCTION);
  switch (p.data[0]) {
    case ESCROW_IX_INITIALIZE_CONFIG: return initialize_config(&p);
    case ESCROW_IX_UPDATE_CONFIG: return update_config(&p);
    case ESCROW_IX_SET_AUTHORITY: return set_authority(&p);
    case ESCROW_IX_OPEN_ESCROW: return open_escrow(&p);
    case ESCROW_IX_DEPOSIT: return deposit(&p);
    case ESCROW_IX_SETTLE: return settle(&p);
    case ESCROW_IX_REQUEST_WITHDRAWAL: return request_withdrawal(&p, false);
    case ESCROW_IX_CANCEL_WITHDRAWAL_REQUEST: return request_withdrawal(&p, true);
    case ESCROW_IX_WITHDRAW: return withdraw(&p);
    default: return ERR(INVALID_INSTRUCTION);
  }
}
