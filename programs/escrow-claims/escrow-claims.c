/*
 * Settlement design B, built for the programs benchmark only (test/bench/programs.ts deploys it at
 * the escrow's address on a chain of its own; `npm start` never deploys it): the escrow program
 * unchanged, plus three instructions in which a batch credits per-provider claim balances instead of
 * paying providers' token accounts, and each balance is withdrawn by a claim of its own.
 *
 * - openClaim (100): [payer (signer), claim (PDA "claim", provider token account), provider token
 *   account, config, system program]; no data. Opens a provider's claim balance, refusing a token
 *   account of another mint or one the settlement authority owns.
 * - settleClaims (101): settle's accounts and data (escrow_idl.h), then the claims vault (a token
 *   account of the mint owned by the config PDA), then the claim accounts the payouts index. The same
 *   checks and fee rule as settle; the nets are added to the claim balances and move to the claims
 *   vault in one transfer.
 * - claim (102): [claim, provider token account, claims vault, config, mint, token program]; no data.
 *   Anyone may crank it: it pays the whole balance to the token account the claim names.
 *
 * The measured outcome is in programs/README.md ("Settlement: two designs measured").
 */
#define entrypoint escrow_entrypoint
#include "../escrow/escrow.c"
#undef entrypoint

#define IX_OPEN_CLAIM 100
#define IX_SETTLE_CLAIMS 101
#define IX_CLAIM 102
#define CLAIM_KIND 0xc1
#define CLAIM_BUMP_AT 1
#define CLAIM_TOKEN_ACCOUNT_AT 8
#define CLAIM_BALANCE_AT 40
#define CLAIM_SIZE 48
#define SETTLE_CLAIMS_VAULT ESCROW_IX_SETTLE_ACCOUNTS
#define SETTLE_CLAIMS_ACCOUNTS (ESCROW_IX_SETTLE_ACCOUNTS + 1)

static const u8 SEED_CLAIM[] = "claim";

/* A claim account: ours and of its kind (only openClaim writes the kind, at the PDA it derived). */
static inline bool is_claim(const SolAccountInfo *a, const SolPubkey *program) {
  return pubkey_eq(a->owner, program) && a->data_len == CLAIM_SIZE && a->data[0] == CLAIM_KIND && a->is_writable;
}

/* The claims vault: a token account of the mint whose owner is the config PDA. */
static inline bool is_claims_vault(const SolAccountInfo *vault, const SolAccountInfo *config) {
  return is_token_account_of(vault, key_at(config, ESCROW_CONFIG_MINT_AT)) && pubkey_eq(token_owner(vault), config->key);
}

static u64 open_claim(SolParameters *p) {
  if (p->ka_num < 5 || p->data_len != 1) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *payer = &p->ka[0], *claim = &p->ka[1], *token_account = &p->ka[2], *config = &p->ka[3];
  if (!payer->is_signer) return ERR(MISSING_SIGNER);
  TRY(check_config(config, p->program_id));
  if (!pubkey_eq(p->ka[4].key, &SYSTEM_PROGRAM_ID)) return ERR(WRONG_PROGRAM);
  if (!is_token_account_of(token_account, key_at(config, ESCROW_CONFIG_MINT_AT))) return ERR(WRONG_MINT);
  if (pubkey_eq(token_owner(token_account), key_at(config, ESCROW_CONFIG_AUTHORITY_AT))) return ERR(PAYEE_IS_AUTHORITY);
  if (!pubkey_eq(claim->owner, &SYSTEM_PROGRAM_ID) || claim->data_len != 0) return ERR(ALREADY_INITIALIZED);
  u8 bump;
  SolSignerSeed find[2] = {SEED(SEED_CLAIM), {token_account->key->x, 32}};
  if (!finds(find, 2, p->program_id, claim->key, &bump)) return ERR(WRONG_ADDRESS);
  SolSignerSeed seeds[3] = {SEED(SEED_CLAIM), {token_account->key->x, 32}, {&bump, 1}};
  SolSignerSeeds signer = {seeds, 3};
  Cpi cpi = {p->ka, p->ka_num, &signer};
  TRY(create_account(&cpi, payer, claim, CLAIM_SIZE, p->program_id));
  claim->data[0] = CLAIM_KIND;
  claim->data[CLAIM_BUMP_AT] = bump;
  copy_bytes(field(claim, CLAIM_TOKEN_ACCOUNT_AT), token_account->key->x, 32);
  return SUCCESS;
}

static u64 settle_claims(SolParameters *p) {
  TRY(check_settle(p, SETTLE_CLAIMS_ACCOUNTS));
  SolAccountInfo *config = &p->ka[ESCROW_IX_SETTLE_CONFIG], *escrow = &p->ka[ESCROW_IX_SETTLE_ESCROW], *vault = &p->ka[ESCROW_IX_SETTLE_VAULT], *mint = &p->ka[ESCROW_IX_SETTLE_MINT],
                 *claims_vault = &p->ka[SETTLE_CLAIMS_VAULT];
  if (!is_claims_vault(claims_vault, config)) return ERR(WRONG_ADDRESS);
  u64 claims = p->ka_num - SETTLE_CLAIMS_ACCOUNTS;
  u64 count = p->data[ESCROW_IX_SETTLE_PAYOUTS_AT];
  const u8 *entry = p->data + ESCROW_IX_SETTLE_PAYOUTS_AT + 1;
  u64 fee_bps = read_u16(field(config, ESCROW_CONFIG_FEE_BPS_AT));
  Totals totals = {0, 0};
  for (u64 i = 0; i < count; i++, entry += 9) {
    u64 index = entry[0];
    u64 gross = read_u64(entry + 1);
    if (index >= claims) return ERR(INVALID_INSTRUCTION);
    if (gross == 0) return ERR(ZERO_AMOUNT);
    SolAccountInfo *claim = &p->ka[SETTLE_CLAIMS_ACCOUNTS + index];
    if (!is_claim(claim, p->program_id)) return ERR(WRONG_ADDRESS);
    u64 fee = mul_bps(gross, fee_bps);
    u64 balance = read_u64(field(claim, CLAIM_BALANCE_AT));
    if (totals.gross + gross < totals.gross || balance + (gross - fee) < balance) return ERR(OVERFLOW);
    totals.gross += gross;
    totals.fee += fee;
    write_u64(field(claim, CLAIM_BALANCE_AT), balance + (gross - fee));
  }
  TRY(check_funds(escrow, vault, totals.gross));
  Payer from = {p, escrow, vault, mint};
  TRY(pay_from_vault(&from, claims_vault, totals.gross - totals.fee));
  return close_batch(&from, config, &totals);
}

static u64 claim_balance(SolParameters *p) {
  if (p->ka_num < 6 || p->data_len != 1) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *claim = &p->ka[0], *destination = &p->ka[1], *claims_vault = &p->ka[2], *config = &p->ka[3], *mint = &p->ka[4];
  TRY(check_config(config, p->program_id));
  TRY(check_mint(mint, key_at(config, ESCROW_CONFIG_MINT_AT)));
  TRY(check_token_program(&p->ka[5]));
  if (!is_claim(claim, p->program_id)) return ERR(WRONG_ADDRESS);
  if (!pubkey_eq(destination->key, key_at(claim, CLAIM_TOKEN_ACCOUNT_AT))) return ERR(WRONG_ADDRESS);
  if (!is_claims_vault(claims_vault, config)) return ERR(WRONG_ADDRESS);
  u64 balance = read_u64(field(claim, CLAIM_BALANCE_AT));
  if (balance == 0) return ERR(ZERO_AMOUNT);
  write_u64(field(claim, CLAIM_BALANCE_AT), 0);
  u8 bump = config->data[ESCROW_CONFIG_BUMP_AT];
  SolSignerSeed seeds[2] = {SEED(SEED_CONFIG), {&bump, 1}};
  SolSignerSeeds signer = {seeds, 2};
  Cpi cpi = {p->ka, p->ka_num, &signer};
  Transfer t = {claims_vault, mint, destination, config->key, balance};
  return token_transfer(&cpi, &t);
}

/* Its own three instructions, else the escrow's. */
u64 entrypoint(const u8 *input) {
  SolParameters p;
  p.ka = (SolAccountInfo *)HEAP_START;
  if (!sol_deserialize(input, &p, MAX_ACCOUNTS)) return ERR(TOO_MANY_ACCOUNTS);
  if (p.data_len == 0) return ERR(INVALID_INSTRUCTION);
  switch (p.data[0]) {
    case IX_OPEN_CLAIM: return open_claim(&p);
    case IX_SETTLE_CLAIMS: return settle_claims(&p);
    case IX_CLAIM: return claim_balance(&p);
    default: return escrow_entrypoint(input);
  }
}
