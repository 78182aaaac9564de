/*
 * What every program of ours shares: result macros over the error codes of its generated header,
 * the heap, PDA checks, account field access and the clock. Include after the program's
 * <name>_idl.h, with PROGRAM_ERR(name) naming its error codes (for example ESCROW_ERR_##name).
 */
#ifndef DOUG_PROGRAM_H
#define DOUG_PROGRAM_H

#include "solana.h"
#include "spl.h"

#define ERR(name) CUSTOM_ERROR(PROGRAM_ERR(name))

/* The 32 KiB heap: account infos and scratch arrays live there (a function's stack is 512 bytes). */
#define HEAP_START 0x300000000ULL
#define HEAP_SIZE (32 * 1024)
#define SEED(s) {s, sizeof(s) - 1}

static inline u8 *field(const SolAccountInfo *a, u64 at) { return a->data + at; }
static inline const SolPubkey *key_at(const SolAccountInfo *a, u64 at) { return (const SolPubkey *)(a->data + at); }

/* The address derived from seeds (bump included), compared with `expected`. */
__attribute__((noinline, unused)) static bool derives(const SolSignerSeed *seeds, int n, const SolPubkey *program, const SolPubkey *expected) {
  SolPubkey address;
  if (sol_create_program_address(seeds, n, program, &address) != 0) return false;
  return pubkey_eq(&address, expected);
}

/* The canonical PDA of `seeds` and its bump, if it is `expected`. */
__attribute__((noinline, unused)) static bool finds(const SolSignerSeed *seeds, int n, const SolPubkey *program, const SolPubkey *expected, u8 *bump) {
  SolPubkey address;
  if (sol_try_find_program_address(seeds, n, program, &address, bump) != 0) return false;
  return pubkey_eq(&address, expected);
}

/* The SPL Token program, named where an instruction calls it. */
static inline u64 check_token_program(const SolAccountInfo *a) { return pubkey_eq(a->key, &TOKEN_PROGRAM_ID) ? SUCCESS : ERR(WRONG_PROGRAM); }

/* The mint a configuration names (`expected`), and an initialized mint. */
static inline u64 check_mint(const SolAccountInfo *mint, const SolPubkey *expected) {
  if (!pubkey_eq(mint->key, expected)) return ERR(WRONG_MINT);
  if (!is_mint(mint)) return ERR(WRONG_OWNER);
  return SUCCESS;
}

__attribute__((noinline, unused)) static i64 now_unix(void) {
  SolClock clock;
  if (sol_get_clock_sysvar(&clock) != 0) return 0;
  return clock.unix_timestamp;
}

__attribute__((noinline, unused)) static u64 current_epoch(void) {
  SolClock clock;
  if (sol_get_clock_sysvar(&clock) != 0) return 0;
  return clock.epoch;
}

#endif
