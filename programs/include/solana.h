/*
 * Solana for C programs built by programs/build (clang's BPF backend and our linker): types, the
 * syscalls the runtime binds by name, and the program input's deserializer. Freestanding: no libc
 * (a call to memcpy or memset would not link), no writable globals, a 4 KiB stack frame per call.
 */
#ifndef DOUG_SOLANA_H
#define DOUG_SOLANA_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed long long i64;
typedef __uint128_t u128;
typedef _Bool bool;
#define true 1
#define false 0
#define NULL ((void *)0)

/* Program results: 0 is success; a custom error is a u32 (ProgramError::Custom). */
#define SUCCESS 0ULL
#define CUSTOM_ERROR(code) ((u64)(u32)(code))
/* Returns the result of `expr` when it is not SUCCESS. */
#define TRY(expr)                           \
  do {                                      \
    u64 result_ = (expr);                   \
    if (result_ != SUCCESS) return result_; \
  } while (0)

typedef struct { u8 x[32]; } SolPubkey;

/* An account as the runtime serialized it (and as sol_invoke_signed_c reads it back). */
typedef struct {
  SolPubkey *key;
  u64 *lamports;
  u64 data_len;
  u8 *data;
  SolPubkey *owner;
  u64 rent_epoch;
  bool is_signer;
  bool is_writable;
  bool executable;
} SolAccountInfo;

typedef struct {
  SolPubkey *pubkey;
  bool is_writable;
  bool is_signer;
} SolAccountMeta;

typedef struct {
  SolPubkey *program_id;
  SolAccountMeta *accounts;
  u64 account_len;
  u8 *data;
  u64 data_len;
} SolInstruction;

typedef struct { const u8 *addr; u64 len; } SolSignerSeed;
typedef struct { const SolSignerSeed *addr; u64 len; } SolSignerSeeds;

typedef struct {
  SolAccountInfo *ka;
  u64 ka_num;
  const u8 *data;
  u64 data_len;
  const SolPubkey *program_id;
} SolParameters;

/* Syscalls (bound by name at load time; programs/build/link.ts lists the ones that exist). */
void sol_log_(const char *message, u64 length);
void sol_log_64_(u64 a, u64 b, u64 c, u64 d, u64 e);
void sol_log_pubkey(const SolPubkey *key);
void sol_log_compute_units_(void);
void sol_panic_(const char *file, u64 file_len, u64 line, u64 column);
u64 sol_invoke_signed_c(const SolInstruction *instruction, const SolAccountInfo *accounts, int account_len, const SolSignerSeeds *seeds, int seeds_len);
u64 sol_create_program_address(const SolSignerSeed *seeds, int seeds_len, const SolPubkey *program_id, SolPubkey *address);
u64 sol_try_find_program_address(const SolSignerSeed *seeds, int seeds_len, const SolPubkey *program_id, SolPubkey *address, u8 *bump);
u64 sol_sha256(const u8 *slices, u64 slices_len, u8 *result);
u64 sol_get_clock_sysvar(void *clock);
void sol_memcpy_(void *dst, const void *src, u64 n);
void sol_memset_(void *dst, u8 value, u64 n);
void sol_memcmp_(const void *a, const void *b, u64 n, int *result);
void sol_set_return_data(const u8 *data, u64 length);

#define sol_log(literal) sol_log_(literal, sizeof(literal) - 1)

static inline bool pubkey_eq(const SolPubkey *a, const SolPubkey *b) {
  const u64 *x = (const u64 *)a->x, *y = (const u64 *)b->x;
  return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

/* Bytes an account may grow by in one instruction: the serializer leaves this much room after its data. */
#define MAX_PERMITTED_DATA_INCREASE (10 * 1024)

/*
 * Reads the runtime's input (the aligned layout of the upgradeable loader) into `params`, filling at
 * most `capacity` account infos. Duplicated accounts point at their first occurrence. False when
 * the instruction names more accounts than `capacity`.
 */
static inline bool sol_deserialize(const u8 *input, SolParameters *params, u64 capacity) {
  u64 count = *(const u64 *)input;
  input += sizeof(u64);
  if (count > capacity) return false;
  params->ka_num = count;
  for (u64 i = 0; i < count; i++) {
    u8 dup = *input;
    input += sizeof(u8);
    if (dup == 0xff) {
      SolAccountInfo *a = &params->ka[i];
      a->is_signer = *input != 0;
      input += sizeof(u8);
      a->is_writable = *input != 0;
      input += sizeof(u8);
      a->executable = *input != 0;
      input += sizeof(u8);
      input += 4; /* original data length */
      a->key = (SolPubkey *)input;
      input += sizeof(SolPubkey);
      a->owner = (SolPubkey *)input;
      input += sizeof(SolPubkey);
      a->lamports = (u64 *)input;
      input += sizeof(u64);
      a->data_len = *(const u64 *)input;
      input += sizeof(u64);
      a->data = (u8 *)input;
      input += a->data_len + MAX_PERMITTED_DATA_INCREASE;
      input = (const u8 *)(((u64)input + 7) & ~7ULL);
      a->rent_epoch = *(const u64 *)input;
      input += sizeof(u64);
    } else {
      params->ka[i] = params->ka[dup];
      input += 7;
    }
  }
  params->data_len = *(const u64 *)input;
  input += sizeof(u64);
  params->data = input;
  input += params->data_len;
  params->program_id = (const SolPubkey *)input;
  return true;
}

#endif
