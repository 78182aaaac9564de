/*
 * DougAI staking program. Interface: programs/staking/idl.ts, rendered into staking_idl.h; the
 * rules are in idl.ts's header comment.
 *
 * Rewards: rewardPerWeight (acc) grows by fee × 2^64 / totalWeight at each fee, the remainder
 * carried to the next (`carry`, in 2^-64 base units). A position's rewards are weight × acc minus its
 * debt (weight × acc when last settled), kept to the 2^-64 in `owed`. 128-bit values are pairs of
 * u64 (BPF has no 128-bit multiply or divide), and acc, debt and weight × acc wrap modulo 2^128:
 * only their differences count, and those are true values below 2^128.
 */
#include "staking_idl.h"
#define PROGRAM_ERR(name) STAKING_ERR_##name
#include "program.h"

#define MAX_ACCOUNTS 16
#define DAY_SECONDS 86400ULL

static const u8 SEED_CONFIG[] = "config";
static const u8 SEED_POSITION[] = "position";
static const u8 SEED_STAKE_VAULT[] = "stake-vault";
static const u8 SEED_REWARD_VAULT[] = "reward-vault";

typedef struct {
  u64 lo;
  u64 hi;
} U128;

static inline void u128_read(const u8 *p, U128 *v) {
  v->lo = read_u64(p);
  v->hi = read_u64(p + 8);
}
static inline void u128_write(u8 *p, const U128 *v) {
  write_u64(p, v->lo);
  write_u64(p + 8, v->hi);
}
static inline void u128_add(U128 *a, const U128 *b) {
  u64 lo = a->lo + b->lo;
  a->hi = a->hi + b->hi + (lo < a->lo);
  a->lo = lo;
}
static inline void u128_sub(U128 *a, const U128 *b) {
  u64 borrow = a->lo < b->lo;
  a->lo -= b->lo;
  a->hi = a->hi - b->hi - borrow;
}

/* a × b, exactly, from 32-bit halves. */
__attribute__((noinline)) static void mul_64x64(u64 a, u64 b, U128 *out) {
  u64 a0 = a & 0xffffffffULL, a1 = a >> 32, b0 = b & 0xffffffffULL, b1 = b >> 32;
  u64 p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  u64 middle = (p00 >> 32) + (p01 & 0xffffffffULL) + (p10 & 0xffffffffULL);
  out->lo = (p00 & 0xffffffffULL) | (middle << 32);
  out->hi = p11 + (p01 >> 32) + (p10 >> 32) + (middle >> 32);
}

/* a × w modulo 2^128. */
__attribute__((noinline)) static void mul_wrapping(const U128 *a, u64 w, U128 *out) {
  mul_64x64(a->lo, w, out);
  out->hi += a->hi * w;
}

/* n / d (d > 0): the quotient into `n`, the remainder returned. Long division, a bit at a time. */
__attribute__((noinline)) static u64 div_by_u64(U128 *n, u64 d) {
  u64 rem = 0;
  U128 q = {0, 0};
  for (int i = 127; i >= 0; i--) {
    u64 bit = i >= 64 ? (n->hi >> (i - 64)) & 1 : (n->lo >> i) & 1;
    u64 top = rem >> 63;
    rem = (rem << 1) | bit;
    if (top || rem >= d) {
      rem -= d;
      if (i >= 64) q.hi |= 1ULL << (i - 64);
      else q.lo |= 1ULL << i;
    }
  }
  *n = q;
  return rem;
}

/*
 * amount × (10,000 + bonus × days / 365) / 10,000, floored as positionWeight in idl.ts; false when
 * the weight passes 2^64 (a weight is up to 4× its amount).
 */
__attribute__((noinline)) static bool weight_of(u64 amount, u64 lock_days, u64 *weight) {
  U128 product;
  mul_64x64(amount, 10000 + STAKING_LOCK_BONUS_BPS * lock_days / STAKING_MAX_LOCK_DAYS, &product);
  div_by_u64(&product, 10000);
  *weight = product.lo;
  return product.hi == 0;
}

static u64 check_config(const SolAccountInfo *config, const SolPubkey *program) {
  if (!pubkey_eq(config->owner, program)) return ERR(WRONG_OWNER);
  if (config->data_len != STAKING_CONFIG_SIZE || config->data[0] != STAKING_CONFIG_KIND) return ERR(WRONG_ADDRESS);
  u8 bump = config->data[STAKING_CONFIG_BUMP_AT];
  SolSignerSeed seeds[2] = {SEED(SEED_CONFIG), {&bump, 1}};
  if (!derives(seeds, 2, program, config->key)) return ERR(WRONG_ADDRESS);
  return SUCCESS;
}

/* One of the configuration's vaults: the PDA of `seed` with the bump stored at `bump_at`. */
__attribute__((noinline)) static u64 check_vault(const SolAccountInfo *config, const SolAccountInfo *vault, const u8 *seed, u64 seed_len, u64 bump_at) {
  u8 bump = config->data[bump_at];
  SolSignerSeed seeds[2] = {{seed, seed_len}, {&bump, 1}};
  SolPubkey address;
  if (sol_create_program_address(seeds, 2, (const SolPubkey *)config->owner, &address) != 0 || !pubkey_eq(&address, vault->key)) return ERR(WRONG_ADDRESS);
  return SUCCESS;
}
#define CHECK_STAKE_VAULT(config, vault) check_vault(config, vault, SEED_STAKE_VAULT, sizeof(SEED_STAKE_VAULT) - 1, STAKING_CONFIG_STAKE_VAULT_BUMP_AT)
#define CHECK_REWARD_VAULT(config, vault) check_vault(config, vault, SEED_REWARD_VAULT, sizeof(SEED_REWARD_VAULT) - 1, STAKING_CONFIG_REWARD_VAULT_BUMP_AT)

/* A position of this program, signed for by its owner. */
__attribute__((noinline)) static u64 check_position(const SolAccountInfo *position, const SolAccountInfo *owner, const SolPubkey *program) {
  if (!pubkey_eq(position->owner, program)) return ERR(WRONG_OWNER);
  if (position->data_len != POSITION_SIZE || position->data[0] != POSITION_KIND) return ERR(WRONG_ADDRESS);
  u8 bump = position->data[POSITION_BUMP_AT];
  SolSignerSeed seeds[4] = {SEED(SEED_POSITION), {field(position, POSITION_OWNER_AT), 32}, {field(position, POSITION_ID_AT), 8}, {&bump, 1}};
  if (!derives(seeds, 4, program, position->key)) return ERR(WRONG_ADDRESS);
  if (owner) {
    if (!owner->is_signer) return ERR(MISSING_SIGNER);
    if (!pubkey_eq(owner->key, key_at(position, POSITION_OWNER_AT))) return ERR(NOT_OWNER);
  }
  return SUCCESS;
}

/* Moves what the position has earned since it was last settled into `owed`, and its debt to weight × acc. */
__attribute__((noinline)) static void settle_rewards(const SolAccountInfo *config, SolAccountInfo *position) {
  U128 acc, debt, owed, now_value;
  u128_read(field(config, STAKING_CONFIG_REWARD_PER_WEIGHT_AT), &acc);
  u128_read(field(position, POSITION_DEBT_AT), &debt);
  u128_read(field(position, POSITION_OWED_AT), &owed);
  mul_wrapping(&acc, read_u64(field(position, POSITION_WEIGHT_AT)), &now_value);
  U128 earned = now_value;
  u128_sub(&earned, &debt);
  u128_add(&owed, &earned);
  u128_write(field(position, POSITION_OWED_AT), &owed);
  u128_write(field(position, POSITION_DEBT_AT), &now_value);
}

/*
 * Gives a settled position a new amount and weight, keeping the totals in step; its debt follows
 * the new weight. OVERFLOW when a total would pass 2^64.
 */
__attribute__((noinline)) static u64 reweigh(SolAccountInfo *config, SolAccountInfo *position, u64 amount, u64 weight) {
  u64 total_staked = read_u64(field(config, STAKING_CONFIG_TOTAL_STAKED_AT)) - read_u64(field(position, POSITION_AMOUNT_AT));
  u64 total_weight = read_u64(field(config, STAKING_CONFIG_TOTAL_WEIGHT_AT)) - read_u64(field(position, POSITION_WEIGHT_AT));
  if (total_staked + amount < total_staked || total_weight + weight < total_weight) return ERR(OVERFLOW);
  write_u64(field(config, STAKING_CONFIG_TOTAL_STAKED_AT), total_staked + amount);
  write_u64(field(config, STAKING_CONFIG_TOTAL_WEIGHT_AT), total_weight + weight);
  write_u64(field(position, POSITION_AMOUNT_AT), amount);
  write_u64(field(position, POSITION_WEIGHT_AT), weight);
  U128 acc, debt;
  u128_read(field(config, STAKING_CONFIG_REWARD_PER_WEIGHT_AT), &acc);
  mul_wrapping(&acc, weight, &debt);
  u128_write(field(position, POSITION_DEBT_AT), &debt);
  return SUCCESS;
}

/* Pays out of one of the configuration's vaults, signed by the configuration's PDA. */
__attribute__((noinline)) static u64 pay_from(SolParameters *p, const SolAccountInfo *config, const Transfer *t) {
  if (t->amount == 0) return SUCCESS;
  u8 bump = config->data[STAKING_CONFIG_BUMP_AT];
  SolSignerSeed seeds[2] = {SEED(SEED_CONFIG), {&bump, 1}};
  SolSignerSeeds signer = {seeds, 2};
  Cpi cpi = {p->ka, p->ka_num, &signer};
  return token_transfer(&cpi, t);
}

/* The parameters initialize and updateConfig carry, in the same order from `params`. */
#define P_COOLDOWN (STAKING_IX_INITIALIZE_COOLDOWN_SECONDS_AT - STAKING_IX_INITIALIZE_MIN_PROVIDER_STAKE_AT)
#define P_EVENT (STAKING_IX_INITIALIZE_MAX_SLASH_BPS_PER_EVENT_AT - STAKING_IX_INITIALIZE_MIN_PROVIDER_STAKE_AT)
#define P_EPOCH (STAKING_IX_INITIALIZE_MAX_SLASH_BPS_PER_EPOCH_AT - STAKING_IX_INITIALIZE_MIN_PROVIDER_STAKE_AT)
#define P_SLASHER (STAKING_IX_INITIALIZE_SLASH_AUTHORITY_AT - STAKING_IX_INITIALIZE_MIN_PROVIDER_STAKE_AT)
_Static_assert(STAKING_IX_UPDATE_CONFIG_SLASH_AUTHORITY_AT - STAKING_IX_UPDATE_CONFIG_MIN_PROVIDER_STAKE_AT == P_SLASHER, "updateConfig's parameters as initialize's");
_Static_assert(STAKING_IX_UPDATE_CONFIG_MAX_SLASH_BPS_PER_EPOCH_AT - STAKING_IX_UPDATE_CONFIG_MIN_PROVIDER_STAKE_AT == P_EPOCH, "updateConfig's parameters as initialize's");

__attribute__((noinline)) static u64 write_params(SolAccountInfo *config, const u8 *params, const SolAccountInfo *treasury) {
  if (read_u64(params + P_COOLDOWN) > STAKING_MAX_COOLDOWN_SECONDS || read_u16(params + P_EVENT) > STAKING_MAX_SLASH_BPS_PER_EVENT ||
      read_u16(params + P_EPOCH) > STAKING_MAX_SLASH_BPS_PER_EPOCH)
    return ERR(INVALID_PARAMETER);
  if (is_zero_key((const SolPubkey *)(params + P_SLASHER))) return ERR(INVALID_PARAMETER);
  if (!is_token_account_of(treasury, key_at(config, STAKING_CONFIG_MINT_AT))) return ERR(WRONG_MINT);
  write_u64(field(config, STAKING_CONFIG_MIN_PROVIDER_STAKE_AT), read_u64(params));
  write_u64(field(config, STAKING_CONFIG_COOLDOWN_SECONDS_AT), read_u64(params + P_COOLDOWN));
  write_u16(field(config, STAKING_CONFIG_MAX_SLASH_BPS_PER_EVENT_AT), read_u16(params + P_EVENT));
  write_u16(field(config, STAKING_CONFIG_MAX_SLASH_BPS_PER_EPOCH_AT), read_u16(params + P_EPOCH));
  copy_bytes(field(config, STAKING_CONFIG_SLASH_AUTHORITY_AT), params + P_SLASHER, 32);
  copy_bytes(field(config, STAKING_CONFIG_TREASURY_AT), treasury->key->x, 32);
  return SUCCESS;
}

/* Creates one of the configuration's token vaults (PDA of `seed`), owned by the configuration. */
__attribute__((noinline)) static u64 create_vault(SolParameters *p, const SolAccountInfo *vault, const u8 *seed, u64 seed_len, u8 *bump) {
  SolSignerSeed find[1] = {{seed, seed_len}};
  if (!finds(find, 1, p->program_id, vault->key, bump)) return ERR(WRONG_ADDRESS);
  SolSignerSeed seeds[2] = {{seed, seed_len}, {bump, 1}};
  SolSignerSeeds signer = {seeds, 2};
  Cpi cpi = {p->ka, p->ka_num, &signer};
  TRY(create_account(&cpi, &p->ka[STAKING_IX_INITIALIZE_ADMIN], vault, TOKEN_ACCOUNT_SIZE, &TOKEN_PROGRAM_ID));
  return token_initialize_account(&cpi, vault, &p->ka[STAKING_IX_INITIALIZE_MINT], p->ka[STAKING_IX_INITIALIZE_CONFIG].key);
}

static u64 initialize(SolParameters *p) {
  if (p->ka_num < STAKING_IX_INITIALIZE_ACCOUNTS || p->data_len != STAKING_IX_INITIALIZE_DATA_LEN) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *admin = &p->ka[STAKING_IX_INITIALIZE_ADMIN], *config = &p->ka[STAKING_IX_INITIALIZE_CONFIG], *mint = &p->ka[STAKING_IX_INITIALIZE_MINT];
  if (!admin->is_signer) return ERR(MISSING_SIGNER);
  if (!pubkey_eq(p->ka[STAKING_IX_INITIALIZE_SYSTEM_PROGRAM].key, &SYSTEM_PROGRAM_ID)) return ERR(WRONG_PROGRAM);
  TRY(check_token_program(&p->ka[STAKING_IX_INITIALIZE_TOKEN_PROGRAM]));
  if (!pubkey_eq(config->owner, &SYSTEM_PROGRAM_ID) || config->data_len != 0) return ERR(ALREADY_INITIALIZED);
  if (!is_mint(mint)) return ERR(WRONG_MINT);
  SolSignerSeed find[1] = {SEED(SEED_CONFIG)};
  u8 bump;
  if (!finds(find, 1, p->program_id, config->key, &bump)) return ERR(WRONG_ADDRESS);
  SolSignerSeed seeds[2] = {SEED(SEED_CONFIG), {&bump, 1}};
  SolSignerSeeds signer = {seeds, 2};
  Cpi cpi = {p->ka, p->ka_num, &signer};
  TRY(create_account(&cpi, admin, config, STAKING_CONFIG_SIZE, p->program_id));
  config->data[0] = STAKING_CONFIG_KIND;
  config->data[STAKING_CONFIG_BUMP_AT] = bump;
  copy_bytes(field(config, STAKING_CONFIG_ADMIN_AT), admin->key->x, 32);
  copy_bytes(field(config, STAKING_CONFIG_MINT_AT), mint->key->x, 32);
  TRY(write_params(config, p->data + STAKING_IX_INITIALIZE_MIN_PROVIDER_STAKE_AT, &p->ka[STAKING_IX_INITIALIZE_TREASURY]));
  TRY(create_vault(p, &p->ka[STAKING_IX_INITIALIZE_STAKE_VAULT], SEED_STAKE_VAULT, sizeof(SEED_STAKE_VAULT) - 1, field(config, STAKING_CONFIG_STAKE_VAULT_BUMP_AT)));
  return create_vault(p, &p->ka[STAKING_IX_INITIALIZE_REWARD_VAULT], SEED_REWARD_VAULT, sizeof(SEED_REWARD_VAULT) - 1, field(config, STAKING_CONFIG_REWARD_VAULT_BUMP_AT));
}

static u64 update_config(SolParameters *p) {
  if (p->ka_num < STAKING_IX_UPDATE_CONFIG_ACCOUNTS || p->data_len != STAKING_IX_UPDATE_CONFIG_DATA_LEN) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *admin = &p->ka[STAKING_IX_UPDATE_CONFIG_ADMIN], *config = &p->ka[STAKING_IX_UPDATE_CONFIG_CONFIG];
  TRY(check_config(config, p->program_id));
  if (!admin->is_signer) return ERR(MISSING_SIGNER);
  if (!pubkey_eq(admin->key, key_at(config, STAKING_CONFIG_ADMIN_AT))) return ERR(NOT_ADMIN);
  const u8 *next_admin = p->data + STAKING_IX_UPDATE_CONFIG_NEW_ADMIN_AT;
  if (is_zero_key((const SolPubkey *)next_admin)) return ERR(INVALID_PARAMETER);
  TRY(write_params(config, p->data + STAKING_IX_UPDATE_CONFIG_MIN_PROVIDER_STAKE_AT, &p->ka[STAKING_IX_UPDATE_CONFIG_TREASURY]));
  copy_bytes(field(config, STAKING_CONFIG_ADMIN_AT), next_admin, 32);
  return SUCCESS;
}

/* Tokens into the stake vault from the owner's account (the owner signs). */
__attribute__((noinline)) static u64 take_stake(SolParameters *p, const SolAccountInfo *owner, const SolAccountInfo *source, const SolAccountInfo *vault, u64 amount) {
  const SolAccountInfo *config = &p->ka[STAKING_IX_STAKE_CONFIG];
  const SolAccountInfo *mint = &p->ka[STAKING_IX_STAKE_MINT];
  TRY(check_mint(mint, key_at(config, STAKING_CONFIG_MINT_AT)));
  TRY(CHECK_STAKE_VAULT(config, vault));
  if (!is_token_account_of(source, mint->key)) return ERR(WRONG_MINT);
  if (amount == 0) return ERR(ZERO_AMOUNT);
  Cpi cpi = {p->ka, p->ka_num, NULL};
  Transfer t = {source, mint, vault, owner->key, amount};
  return token_transfer(&cpi, &t);
}
_Static_assert(STAKING_IX_STAKE_CONFIG == STAKING_IX_TOP_UP_CONFIG && STAKING_IX_STAKE_MINT == STAKING_IX_TOP_UP_MINT, "stake and topUp name config and mint alike");

static u64 stake(SolParameters *p) {
  if (p->ka_num < STAKING_IX_STAKE_ACCOUNTS || p->data_len != STAKING_IX_STAKE_DATA_LEN) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *owner = &p->ka[STAKING_IX_STAKE_OWNER], *position = &p->ka[STAKING_IX_STAKE_POSITION], *config = &p->ka[STAKING_IX_STAKE_CONFIG];
  TRY(check_config(config, p->program_id));
  if (!owner->is_signer) return ERR(MISSING_SIGNER);
  if (!pubkey_eq(p->ka[STAKING_IX_STAKE_SYSTEM_PROGRAM].key, &SYSTEM_PROGRAM_ID)) return ERR(WRONG_PROGRAM);
  TRY(check_token_program(&p->ka[STAKING_IX_STAKE_TOKEN_PROGRAM]));
  u64 lock_days = read_u16(p->data + STAKING_IX_STAKE_LOCK_DAYS_AT);
  if (lock_days > STAKING_MAX_LOCK_DAYS) return ERR(INVALID_PARAMETER);
  if (!pubkey_eq(position->owner, &SYSTEM_PROGRAM_ID) || position->data_len != 0) return ERR(ALREADY_INITIALIZED);
  const u8 *id = p->data + STAKING_IX_STAKE_ID_AT;
  SolSignerSeed find[3] = {SEED(SEED_POSITION), {owner->key->x, 32}, {id, 8}};
  u8 bump;
  if (!finds(find, 3, p->program_id, position->key, &bump)) return ERR(WRONG_ADDRESS);
  u64 amount = read_u64(p->data + STAKING_IX_STAKE_AMOUNT_AT);
  TRY(take_stake(p, owner, &p->ka[STAKING_IX_STAKE_OWNER_TOKEN_ACCOUNT], &p->ka[STAKING_IX_STAKE_STAKE_VAULT], amount));

  SolSignerSeed seeds[4] = {SEED(SEED_POSITION), {owner->key->x, 32}, {id, 8}, {&bump, 1}};
  SolSignerSeeds signer = {seeds, 4};
  Cpi cpi = {p->ka, p->ka_num, &signer};
  TRY(create_account(&cpi, owner, position, POSITION_SIZE, p->program_id));
  position->data[0] = POSITION_KIND;
  position->data[POSITION_BUMP_AT] = bump;
  write_u16(field(position, POSITION_LOCK_DAYS_AT), (u16)lock_days);
  copy_bytes(field(position, POSITION_OWNER_AT), owner->key->x, 32);
  copy_bytes(field(position, POSITION_ID_AT), id, 8);
  write_u64(field(position, POSITION_CREATED_AT_AT), (u64)now_unix());
  write_u64(field(position, POSITION_GREW_AT_AT), (u64)now_unix());
  /* A new position starts settled: it owes nothing and earns from the next fee on. */
  u64 weight;
  if (!weight_of(amount, lock_days, &weight)) return ERR(OVERFLOW);
  return reweigh(config, position, amount, weight);
}

static inline bool is_unstaked(const SolAccountInfo *position) { return read_u64(field(position, POSITION_UNSTAKED_AT_AT)) != 0; }

/* Held by governance (an open vote, a proposed slash): no unstake, no withdrawal before heldUntil. */
static inline bool is_held(const SolAccountInfo *position, i64 now) { return (i64)read_u64(field(position, POSITION_HELD_UNTIL_AT)) > now; }

static u64 top_up(SolParameters *p) {
  if (p->ka_num < STAKING_IX_TOP_UP_ACCOUNTS || p->data_len != STAKING_IX_TOP_UP_DATA_LEN) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *owner = &p->ka[STAKING_IX_TOP_UP_OWNER], *position = &p->ka[STAKING_IX_TOP_UP_POSITION], *config = &p->ka[STAKING_IX_TOP_UP_CONFIG];
  TRY(check_config(config, p->program_id));
  TRY(check_position(position, owner, p->program_id));
  TRY(check_token_program(&p->ka[STAKING_IX_TOP_UP_TOKEN_PROGRAM]));
  if (is_unstaked(position)) return ERR(ALREADY_UNSTAKED);
  u64 add = read_u64(p->data + STAKING_IX_TOP_UP_AMOUNT_AT);
  u64 amount = read_u64(field(position, POSITION_AMOUNT_AT));
  if (amount + add < amount) return ERR(OVERFLOW);
  u64 weight;
  if (!weight_of(amount + add, read_u16(field(position, POSITION_LOCK_DAYS_AT)), &weight)) return ERR(OVERFLOW);
  TRY(take_stake(p, owner, &p->ka[STAKING_IX_TOP_UP_OWNER_TOKEN_ACCOUNT], &p->ka[STAKING_IX_TOP_UP_STAKE_VAULT], add));
  settle_rewards(config, position);
  write_u64(field(position, POSITION_GREW_AT_AT), (u64)now_unix());
  return reweigh(config, position, amount + add, weight);
}

static u64 extend(SolParameters *p) {
  if (p->ka_num < STAKING_IX_EXTEND_ACCOUNTS || p->data_len != STAKING_IX_EXTEND_DATA_LEN) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *owner = &p->ka[STAKING_IX_EXTEND_OWNER], *position = &p->ka[STAKING_IX_EXTEND_POSITION], *config = &p->ka[STAKING_IX_EXTEND_CONFIG];
  TRY(check_config(config, p->program_id));
  TRY(check_position(position, owner, p->program_id));
  if (is_unstaked(position)) return ERR(ALREADY_UNSTAKED);
  u64 lock_days = read_u16(p->data + STAKING_IX_EXTEND_LOCK_DAYS_AT);
  if (lock_days > STAKING_MAX_LOCK_DAYS) return ERR(INVALID_PARAMETER);
  if (lock_days < read_u16(field(position, POSITION_LOCK_DAYS_AT))) return ERR(SHORTER_LOCK);
  u64 amount = read_u64(field(position, POSITION_AMOUNT_AT)), weight;
  if (!weight_of(amount, lock_days, &weight)) return ERR(OVERFLOW);
  settle_rewards(config, position);
  write_u16(field(position, POSITION_LOCK_DAYS_AT), (u16)lock_days);
  write_u64(field(position, POSITION_GREW_AT_AT), (u64)now_unix());
  return reweigh(config, position, amount, weight);
}

static u64 unstake(SolParameters *p) {
  if (p->ka_num < STAKING_IX_UNSTAKE_ACCOUNTS || p->data_len != STAKING_IX_UNSTAKE_DATA_LEN) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *owner = &p->ka[STAKING_IX_UNSTAKE_OWNER], *position = &p->ka[STAKING_IX_UNSTAKE_POSITION], *config = &p->ka[STAKING_IX_UNSTAKE_CONFIG];
  TRY(check_config(config, p->program_id));
  TRY(check_position(position, owner, p->program_id));
  if (is_unstaked(position)) return ERR(ALREADY_UNSTAKED);
  i64 now = now_unix();
  if (now <= 0) return ERR(INVALID_PARAMETER);
  if (is_held(position, now)) return ERR(POSITION_HELD);
  settle_rewards(config, position);
  u64 wait = read_u16(field(position, POSITION_LOCK_DAYS_AT)) * DAY_SECONDS + read_u64(field(config, STAKING_CONFIG_COOLDOWN_SECONDS_AT));
  write_u64(field(position, POSITION_UNSTAKED_AT_AT), (u64)now);
  write_u64(field(position, POSITION_UNLOCK_AT_AT), (u64)now + wait);
  /* The tokens stay staked (and slashable) until withdrawn; the weight stops earning now. */
  return reweigh(config, position, read_u64(field(position, POSITION_AMOUNT_AT)), 0);
}

static u64 withdraw(SolParameters *p) {
  if (p->ka_num < STAKING_IX_WITHDRAW_ACCOUNTS || p->data_len != STAKING_IX_WITHDRAW_DATA_LEN) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *owner = &p->ka[STAKING_IX_WITHDRAW_OWNER], *position = &p->ka[STAKING_IX_WITHDRAW_POSITION], *config = &p->ka[STAKING_IX_WITHDRAW_CONFIG], *destination = &p->ka[STAKING_IX_WITHDRAW_OWNER_TOKEN_ACCOUNT],
                 *vault = &p->ka[STAKING_IX_WITHDRAW_STAKE_VAULT], *mint = &p->ka[STAKING_IX_WITHDRAW_MINT];
  TRY(check_config(config, p->program_id));
  TRY(check_position(position, owner, p->program_id));
  TRY(check_mint(mint, key_at(config, STAKING_CONFIG_MINT_AT)));
  TRY(check_token_program(&p->ka[STAKING_IX_WITHDRAW_TOKEN_PROGRAM]));
  TRY(CHECK_STAKE_VAULT(config, vault));
  if (!is_unstaked(position)) return ERR(NOT_UNSTAKED);
  i64 now = now_unix();
  if (now <= 0 || (u64)now < read_u64(field(position, POSITION_UNLOCK_AT_AT))) return ERR(STILL_LOCKED);
  if (is_held(position, now)) return ERR(POSITION_HELD);
  if (!is_token_account_of(destination, mint->key) || !pubkey_eq(token_owner(destination), owner->key)) return ERR(WRONG_MINT);
  u64 amount = read_u64(field(position, POSITION_AMOUNT_AT));
  if (amount == 0) return ERR(ZERO_AMOUNT);
  TRY(reweigh(config, position, 0, 0));
  Transfer t = {vault, mint, destination, config->key, amount};
  return pay_from(p, config, &t);
}

static u64 claim(SolParameters *p) {
  if (p->ka_num < STAKING_IX_CLAIM_ACCOUNTS || p->data_len != STAKING_IX_CLAIM_DATA_LEN) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *owner = &p->ka[STAKING_IX_CLAIM_OWNER], *position = &p->ka[STAKING_IX_CLAIM_POSITION], *config = &p->ka[STAKING_IX_CLAIM_CONFIG], *destination = &p->ka[STAKING_IX_CLAIM_OWNER_TOKEN_ACCOUNT],
                 *vault = &p->ka[STAKING_IX_CLAIM_REWARD_VAULT], *mint = &p->ka[STAKING_IX_CLAIM_MINT];
  TRY(check_config(config, p->program_id));
  TRY(check_position(position, owner, p->program_id));
  TRY(check_mint(mint, key_at(config, STAKING_CONFIG_MINT_AT)));
  TRY(check_token_program(&p->ka[STAKING_IX_CLAIM_TOKEN_PROGRAM]));
  TRY(CHECK_REWARD_VAULT(config, vault));
  if (!is_token_account_of(destination, mint->key)) return ERR(WRONG_MINT);
  settle_rewards(config, position);
  U128 owed;
  u128_read(field(position, POSITION_OWED_AT), &owed);
  /* Whole base units are paid; the fraction (owed.lo, in 2^-64) stays with the position. */
  u64 pay = owed.hi;
  if (pay == 0) return ERR(NOTHING_TO_CLAIM);
  owed.hi = 0;
  u128_write(field(position, POSITION_OWED_AT), &owed);
  write_u64(field(position, POSITION_CLAIMED_AT), read_u64(field(position, POSITION_CLAIMED_AT)) + pay);
  write_u64(field(config, STAKING_CONFIG_CLAIMED_AT), read_u64(field(config, STAKING_CONFIG_CLAIMED_AT)) + pay);
  Transfer t = {vault, mint, destination, config->key, pay};
  return pay_from(p, config, &t);
}

/* Adds a fee to the accumulator: acc += (fee × 2^64 + carry) / totalWeight, the remainder carried. */
__attribute__((noinline)) static void share_fee(SolAccountInfo *config, u64 amount, u64 total_weight) {
  U128 numerator = {read_u64(field(config, STAKING_CONFIG_CARRY_AT)), amount};
  u64 carry = div_by_u64(&numerator, total_weight);
  U128 acc;
  u128_read(field(config, STAKING_CONFIG_REWARD_PER_WEIGHT_AT), &acc);
  u128_add(&acc, &numerator);
  u128_write(field(config, STAKING_CONFIG_REWARD_PER_WEIGHT_AT), &acc);
  write_u64(field(config, STAKING_CONFIG_CARRY_AT), carry);
}

static u64 distribute(SolParameters *p) {
  if (p->ka_num < STAKING_IX_DISTRIBUTE_ACCOUNTS || p->data_len != STAKING_IX_DISTRIBUTE_DATA_LEN) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *authority = &p->ka[STAKING_IX_DISTRIBUTE_SOURCE_AUTHORITY], *source = &p->ka[STAKING_IX_DISTRIBUTE_SOURCE], *config = &p->ka[STAKING_IX_DISTRIBUTE_CONFIG],
                 *vault = &p->ka[STAKING_IX_DISTRIBUTE_REWARD_VAULT], *treasury = &p->ka[STAKING_IX_DISTRIBUTE_TREASURY], *mint = &p->ka[STAKING_IX_DISTRIBUTE_MINT];
  TRY(check_config(config, p->program_id));
  TRY(check_mint(mint, key_at(config, STAKING_CONFIG_MINT_AT)));
  TRY(check_token_program(&p->ka[STAKING_IX_DISTRIBUTE_TOKEN_PROGRAM]));
  TRY(CHECK_REWARD_VAULT(config, vault));
  if (!pubkey_eq(treasury->key, key_at(config, STAKING_CONFIG_TREASURY_AT))) return ERR(WRONG_FEE_ACCOUNT);
  if (!authority->is_signer) return ERR(MISSING_SIGNER);
  if (!is_token_account_of(source, mint->key)) return ERR(WRONG_MINT);
  u64 amount = read_u64(p->data + STAKING_IX_DISTRIBUTE_AMOUNT_AT);
  if (amount == 0) return ERR(ZERO_AMOUNT);
  u64 total_weight = read_u64(field(config, STAKING_CONFIG_TOTAL_WEIGHT_AT));
  /* Nothing staked: the fee goes to the treasury, never to whoever stakes next. */
  u64 counter_at = total_weight == 0 ? STAKING_CONFIG_FEES_TO_TREASURY_AT : STAKING_CONFIG_FEES_TO_STAKERS_AT;
  u64 counted = read_u64(field(config, counter_at));
  if (counted + amount < counted) return ERR(OVERFLOW);
  write_u64(field(config, counter_at), counted + amount);
  if (total_weight > 0) share_fee(config, amount, total_weight);
  Cpi cpi = {p->ka, p->ka_num, NULL};
  Transfer t = {source, mint, total_weight == 0 ? treasury : vault, authority->key, amount};
  return token_transfer(&cpi, &t);
}

static u64 slash(SolParameters *p) {
  if (p->ka_num < STAKING_IX_SLASH_ACCOUNTS || p->data_len != STAKING_IX_SLASH_DATA_LEN) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *slasher = &p->ka[STAKING_IX_SLASH_SLASH_AUTHORITY], *position = &p->ka[STAKING_IX_SLASH_POSITION], *config = &p->ka[STAKING_IX_SLASH_CONFIG], *vault = &p->ka[STAKING_IX_SLASH_STAKE_VAULT],
                 *treasury = &p->ka[STAKING_IX_SLASH_TREASURY], *mint = &p->ka[STAKING_IX_SLASH_MINT];
  TRY(check_config(config, p->program_id));
  TRY(check_position(position, NULL, p->program_id));
  TRY(check_mint(mint, key_at(config, STAKING_CONFIG_MINT_AT)));
  TRY(check_token_program(&p->ka[STAKING_IX_SLASH_TOKEN_PROGRAM]));
  TRY(CHECK_STAKE_VAULT(config, vault));
  if (!slasher->is_signer) return ERR(MISSING_SIGNER);
  if (!pubkey_eq(slasher->key, key_at(config, STAKING_CONFIG_SLASH_AUTHORITY_AT))) return ERR(NOT_SLASH_AUTHORITY);
  if (!pubkey_eq(treasury->key, key_at(config, STAKING_CONFIG_TREASURY_AT))) return ERR(WRONG_FEE_ACCOUNT);
  u64 amount = read_u64(p->data + STAKING_IX_SLASH_AMOUNT_AT);
  if (amount == 0) return ERR(ZERO_AMOUNT);
  u64 held = read_u64(field(position, POSITION_AMOUNT_AT));
  if (amount > mul_bps(held, read_u16(field(config, STAKING_CONFIG_MAX_SLASH_BPS_PER_EVENT_AT)))) return ERR(SLASH_TOO_LARGE);
  u64 epoch = current_epoch();
  u64 in_epoch = read_u64(field(config, STAKING_CONFIG_SLASH_EPOCH_AT)) == epoch ? read_u64(field(config, STAKING_CONFIG_SLASHED_IN_EPOCH_AT)) : 0;
  u64 epoch_bound = mul_bps(read_u64(field(config, STAKING_CONFIG_TOTAL_STAKED_AT)) + in_epoch, read_u16(field(config, STAKING_CONFIG_MAX_SLASH_BPS_PER_EPOCH_AT)));
  if (in_epoch + amount > epoch_bound) return ERR(SLASH_TOO_LARGE);
  write_u64(field(config, STAKING_CONFIG_SLASH_EPOCH_AT), epoch);
  write_u64(field(config, STAKING_CONFIG_SLASHED_IN_EPOCH_AT), in_epoch + amount);
  write_u64(field(config, STAKING_CONFIG_SLASHED_AT), read_u64(field(config, STAKING_CONFIG_SLASHED_AT)) + amount);
  write_u64(field(position, POSITION_SLASHED_AT), read_u64(field(position, POSITION_SLASHED_AT)) + amount);
  copy_bytes(field(position, POSITION_LAST_EVIDENCE_AT), p->data + STAKING_IX_SLASH_EVIDENCE_AT, 32);
  /* Earned rewards are settled first: a slash takes stake, never rewards already earned. */
  settle_rewards(config, position);
  u64 weight = 0;
  if (!is_unstaked(position)) weight_of(held - amount, read_u16(field(position, POSITION_LOCK_DAYS_AT)), &weight); /* less than before: fits */
  TRY(reweigh(config, position, held - amount, weight));
  Transfer t = {vault, mint, treasury, config->key, amount};
  return pay_from(p, config, &t);
}

static u64 hold(SolParameters *p) {
  if (p->ka_num < STAKING_IX_HOLD_ACCOUNTS || p->data_len != STAKING_IX_HOLD_DATA_LEN) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *admin = &p->ka[STAKING_IX_HOLD_ADMIN], *position = &p->ka[STAKING_IX_HOLD_POSITION], *config = &p->ka[STAKING_IX_HOLD_CONFIG];
  TRY(check_config(config, p->program_id));
  TRY(check_position(position, NULL, p->program_id));
  if (!admin->is_signer) return ERR(MISSING_SIGNER);
  if (!pubkey_eq(admin->key, key_at(config, STAKING_CONFIG_ADMIN_AT))) return ERR(NOT_ADMIN);
  i64 until = (i64)read_u64(p->data + STAKING_IX_HOLD_UNTIL_AT);
  /* A hold only ever lengthens: two open votes hold the position until the later one ends. */
  if (until > (i64)read_u64(field(position, POSITION_HELD_UNTIL_AT))) write_u64(field(position, POSITION_HELD_UNTIL_AT), (u64)until);
  return SUCCESS;
}

u64 entrypoint(const u8 *input) {
  SolParameters p;
  p.ka = (SolAccountInfo *)HEAP_START;
  if (!sol_deserialize(input, &p, MAX_ACCOUNTS)) return ERR(TOO_MANY_ACCOUNTS);
  if (p.data_len == 0) return ERR(INVALID_INSTRUCTION);
  switch (p.data[0]) {
    case STAKING_IX_INITIALIZE: return initialize(&p);
    case STAKING_IX_UPDATE_CONFIG: return update_config(&p);
    case STAKING_IX_STAKE: return stake(&p);
    case STAKING_IX_TOP_UP: return top_up(&p);
    case STAKING_IX_EXTEND: return extend(&p);
    case STAKING_IX_UNSTAKE: return unstake(&p);
    case STAKING_IX_WITHDRAW: return withdraw(&p);
    case STAKING_IX_CLAIM: return claim(&p);
    case STAKING_IX_DISTRIBUTE: return distribute(&p);
    case STAKING_IX_SLASH: return slash(&p);
    case STAKING_IX_HOLD: return hold(&p);
    default: return ERR(INVALID_INSTRUCTION);
  }
}
