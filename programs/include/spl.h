/*
 * Calls into the System and SPL Token programs, and reading their accounts, for programs built by
 * programs/build. Every function takes the instruction's whole account list (`accounts`, `count`):
 * a cross-program call must be handed the infos of every account it names.
 */
#ifndef DOUG_SPL_H
#define DOUG_SPL_H

#include "solana.h"

static const SolPubkey SYSTEM_PROGRAM_ID = {{0}};
static const SolPubkey TOKEN_PROGRAM_ID = {{0x06, 0xdd, 0xf6, 0xe1, 0xd7, 0x65, 0xa1, 0x93, 0xd9, 0xcb, 0xe1, 0x46, 0xce, 0xeb, 0x79, 0xac,
                                             0x1c, 0xb4, 0x85, 0xed, 0x5f, 0x5b, 0x37, 0x91, 0x3a, 0x8c, 0xf5, 0x85, 0x7e, 0xff, 0x00, 0xa9}};

/* SPL Token account layouts (state 1 = initialized). */
#define TOKEN_ACCOUNT_SIZE 165
#define TOKEN_ACCOUNT_MINT_AT 0
#define TOKEN_ACCOUNT_OWNER_AT 32
#define TOKEN_ACCOUNT_AMOUNT_AT 64
#define TOKEN_ACCOUNT_STATE_AT 108
#define MINT_SIZE 82
#define MINT_DECIMALS_AT 44
#define MINT_INITIALIZED_AT 45

/* Little-endian reads and writes at any alignment (instruction data is not aligned). */
static inline u64 read_u64(const u8 *p) {
  u64 v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}
static inline u16 read_u16(const u8 *p) { return (u16)(p[0] | (p[1] << 8)); }
static inline void write_u64(u8 *p, u64 v) {
  for (int i = 0; i < 8; i++) p[i] = (u8)(v >> (8 * i));
}
static inline void write_u16(u8 *p, u16 v) {
  p[0] = (u8)v;
  p[1] = (u8)(v >> 8);
}
static inline void copy_bytes(u8 *dst, const u8 *src, u64 n) {
  for (u64 i = 0; i < n; i++) dst[i] = src[i];
}
static inline bool is_zero_key(const SolPubkey *k) { return pubkey_eq(k, &SYSTEM_PROGRAM_ID); }

/* A token account of `mint` (SPL Token owned, initialized), else false. */
static inline bool is_token_account_of(const SolAccountInfo *a, const SolPubkey *mint) {
  return pubkey_eq(a->owner, &TOKEN_PROGRAM_ID) && a->data_len == TOKEN_ACCOUNT_SIZE && a->data[TOKEN_ACCOUNT_STATE_AT] == 1 &&
         pubkey_eq((const SolPubkey *)(a->data + TOKEN_ACCOUNT_MINT_AT), mint);
}
static inline const SolPubkey *token_owner(const SolAccountInfo *a) { return (const SolPubkey *)(a->data + TOKEN_ACCOUNT_OWNER_AT); }
static inline u64 token_amount(const SolAccountInfo *a) { return read_u64(a->data + TOKEN_ACCOUNT_AMOUNT_AT); }
static inline bool is_mint(const SolAccountInfo *a) {
  return pubkey_eq(a->owner, &TOKEN_PROGRAM_ID) && a->data_len == MINT_SIZE && a->data[MINT_INITIALIZED_AT] == 1;
}

typedef struct {
  u64 lamports_per_byte_year;
  u8 exemption_threshold[8]; /* an f64; BPF has no floating point */
  u8 burn_percent;
} SolRent;
u64 sol_get_rent_sysvar(SolRent *rent);

typedef struct {
  u64 slot;
  i64 epoch_start_timestamp;
  u64 epoch;
  u64 leader_schedule_epoch;
  i64 unix_timestamp;
} SolClock;

/*
 * Lamports that keep `space` bytes rent-exempt: (128 + space) × lamports per byte-year × the
 * exemption threshold, an f64 read by its bits (BPF has no floating point): 2.0 on clusters of old,
 * 1.0 since the rent change that doubled lamports per byte-year. 0 for any other threshold.
 */
__attribute__((noinline, unused)) static u64 rent_exempt_minimum(u64 space) {
  SolRent rent;
  if (sol_get_rent_sysvar(&rent) != 0) return 0;
  u64 threshold = read_u64(rent.exemption_threshold);
  u64 times = threshold == 0x3ff0000000000000ULL ? 1 : threshold == 0x4000000000000000ULL ? 2 : 0;
  return (128 + space) * rent.lamports_per_byte_year * times;
}

/* floor(amount × bps / 10,000), exactly, without 128-bit arithmetic (BPF has none): bps ≤ 10,000. */
static inline u64 mul_bps(u64 amount, u64 bps) { return (amount / 10000) * bps + ((amount % 10000) * bps) / 10000; }

/*
 * A cross-program call's context: the instruction's accounts, and the seeds of the PDA that signs
 * (NULL when none). BPF functions take at most five arguments, hence the structs.
 */
typedef struct {
  SolAccountInfo *accounts;
  u64 count;
  const SolSignerSeeds *seeds;
} Cpi;

/* A System program instruction on `account` (the PDA cpi->seeds sign for), with `data` after its u32 tag. */
__attribute__((noinline, unused)) static u64 system_call(const Cpi *cpi, const SolAccountInfo *payer, const SolAccountInfo *account, const u8 *data, u64 len) {
  SolAccountMeta metas[2] = {{payer ? payer->key : account->key, true, true}, {account->key, true, payer == NULL}};
  SolInstruction ix = {(SolPubkey *)&SYSTEM_PROGRAM_ID, payer ? metas : metas + 1, payer ? 2 : 1, (u8 *)data, len};
  return sol_invoke_signed_c(&ix, cpi->accounts, (int)cpi->count, cpi->seeds, cpi->seeds ? 1 : 0);
}

/*
 * Creates `account` (the PDA cpi->seeds sign for) with `space` bytes owned by `owner`, rent paid by
 * `payer`. An address someone has already sent lamports to cannot be created (CreateAccount refuses
 * it, which would let anyone block a buyer's escrow for the price of a transfer): such an account
 * is topped up to the rent, allocated and assigned instead.
 */
__attribute__((noinline, unused)) static u64 create_account(const Cpi *cpi, const SolAccountInfo *payer, const SolAccountInfo *account, u64 space, const SolPubkey *owner) {
  u64 lamports = rent_exempt_minimum(space);
  if (lamports == 0) return CUSTOM_ERROR(0xffff);
  u8 data[4 + 8 + 8 + 32];
  u64 held = *account->lamports;
  if (held == 0) {
    write_u64(data, 0); /* u32 tag 0 (CreateAccount) plus the lamports' first bytes, rewritten next */
    write_u64(data + 4, lamports);
    write_u64(data + 12, space);
    copy_bytes(data + 20, owner->x, 32);
    SolAccountMeta metas[2] = {{payer->key, true, true}, {account->key, true, true}};
    SolInstruction ix = {(SolPubkey *)&SYSTEM_PROGRAM_ID, metas, 2, data, sizeof(data)};
    return sol_invoke_signed_c(&ix, cpi->accounts, (int)cpi->count, cpi->seeds, cpi->seeds ? 1 : 0);
  }
  if (held < lamports) {
    write_u64(data, 2); /* Transfer */
    write_u64(data + 4, lamports - held);
    TRY(system_call(cpi, payer, account, data, 12));
  }
  write_u64(data, 8); /* Allocate */
  write_u64(data + 4, space);
  TRY(system_call(cpi, NULL, account, data, 12));
  write_u64(data, 1); /* Assign */
  copy_bytes(data + 4, owner->x, 32);
  return system_call(cpi, NULL, account, data, 36);
}

/* SPL Token InitializeAccount3: `account` holds `mint` for `owner`. */
__attribute__((noinline, unused)) static u64 token_initialize_account(const Cpi *cpi, const SolAccountInfo *account, const SolAccountInfo *mint, const SolPubkey *owner) {
  u8 data[1 + 32];
  data[0] = 18;
  copy_bytes(data + 1, owner->x, 32);
  SolAccountMeta metas[2] = {{account->key, true, false}, {mint->key, false, false}};
  SolInstruction ix = {(SolPubkey *)&TOKEN_PROGRAM_ID, metas, 2, data, sizeof(data)};
  return sol_invoke_signed_c(&ix, cpi->accounts, (int)cpi->count, NULL, 0);
}

typedef struct {
  const SolAccountInfo *source;
  const SolAccountInfo *mint;
  const SolAccountInfo *destination;
  const SolPubkey *authority;
  u64 amount;
} Transfer;

/* SPL Token TransferChecked, signed by the transfer's authority (or by cpi->seeds when it is a PDA). */
__attribute__((noinline, unused)) static u64 token_transfer(const Cpi *cpi, const Transfer *t) {
  u8 data[1 + 8 + 1];
  data[0] = 12;
  write_u64(data + 1, t->amount);
  data[9] = t->mint->data[MINT_DECIMALS_AT];
  SolAccountMeta metas[4] = {{t->source->key, true, false}, {t->mint->key, false, false}, {t->destination->key, true, false}, {(SolPubkey *)t->authority, false, true}};
  SolInstruction ix = {(SolPubkey *)&TOKEN_PROGRAM_ID, metas, 4, data, sizeof(data)};
  return sol_invoke_signed_c(&ix, cpi->accounts, (int)cpi->count, cpi->seeds, cpi->seeds ? 1 : 0);
}

#endif
