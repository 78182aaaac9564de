/*
 * DougAI governance program. Interface: programs/governance/idl.ts, rendered into governance_idl.h;
 * the rules are in idl.ts's header comment.
 *
 * Governance's PDA ("governance") is the admin of the escrow and staking configurations: it signs
 * their updateConfig, the staking program's hold (a voting position, a position accused) and its
 * slash, always by CPI from an instruction below, never for a single key. The target programs check
 * the values of their own parameters when a proposal is executed; this program checks the shape of
 * each proposal when it opens, and the values of the parameters it keeps itself (markets', its own).
 */
#include "governance_idl.h"
#include "../escrow/escrow_idl.h"
#include "../staking/staking_idl.h"
#define PROGRAM_ERR(name) GOVERNANCE_ERR_##name
#include "program.h"

#define MAX_ACCOUNTS 16

#define ACTION_UPDATE_ESCROW 0
#define ACTION_UPDATE_STAKING 1
#define ACTION_SET_MARKET 2
#define ACTION_UPDATE_GOVERNANCE 3
#define ACTION_SLASH 4
#define SIDE_AGAINST 0
#define SIDE_FOR 1

static const u8 SEED_GOVERNANCE[] = "governance";
static const u8 SEED_PROPOSAL[] = "proposal";
static const u8 SEED_VOTE[] = "vote";
static const u8 SEED_MARKET[] = "market";

/* Governance, checked: ours, of its kind, at its PDA. */
__attribute__((noinline)) static u64 check_governance(const SolAccountInfo *governance, const SolPubkey *program) {
  if (!pubkey_eq(governance->owner, program)) return ERR(WRONG_OWNER);
  if (governance->data_len != GOVERNANCE_SIZE || governance->data[0] != GOVERNANCE_KIND) return ERR(WRONG_ADDRESS);
  u8 bump = governance->data[GOVERNANCE_BUMP_AT];
  SolSignerSeed seeds[2] = {SEED(SEED_GOVERNANCE), {&bump, 1}};
  if (!derives(seeds, 2, program, governance->key)) return ERR(WRONG_ADDRESS);
  return SUCCESS;
}

/* A proposal of ours, at its PDA. */
__attribute__((noinline)) static u64 check_proposal(const SolAccountInfo *proposal, const SolPubkey *program) {
  if (!pubkey_eq(proposal->owner, program)) return ERR(WRONG_OWNER);
  if (proposal->data_len != PROPOSAL_SIZE || proposal->data[0] != PROPOSAL_KIND) return ERR(WRONG_ADDRESS);
  u8 bump = proposal->data[PROPOSAL_BUMP_AT];
  SolSignerSeed seeds[3] = {SEED(SEED_PROPOSAL), {field(proposal, PROPOSAL_INDEX_AT), 8}, {&bump, 1}};
  if (!derives(seeds, 3, program, proposal->key)) return ERR(WRONG_ADDRESS);
  return SUCCESS;
}

/* The staking configuration governance names, and (when given) the staking program that owns it. */
__attribute__((noinline)) static u64 check_staking(const SolAccountInfo *governance, const SolAccountInfo *config, const SolAccountInfo *program) {
  if (!pubkey_eq(config->key, key_at(governance, GOVERNANCE_STAKING_CONFIG_AT))) return ERR(WRONG_ADDRESS);
  if (config->data_len != STAKING_CONFIG_SIZE || config->data[0] != STAKING_CONFIG_KIND) return ERR(WRONG_OWNER);
  if (program && !pubkey_eq(program->key, config->owner)) return ERR(WRONG_PROGRAM);
  return SUCCESS;
}

/*
 * A position of the staking program that owns `config` (the program writes only its own accounts,
 * and the kind byte tells a position from its configuration), and, when `owner` is given, signed for
 * by its owner.
 */
__attribute__((noinline)) static u64 check_position(const SolAccountInfo *position, const SolAccountInfo *config, const SolAccountInfo *owner) {
  if (!pubkey_eq(position->owner, config->owner)) return ERR(WRONG_OWNER);
  if (position->data_len != POSITION_SIZE || position->data[0] != POSITION_KIND) return ERR(WRONG_ADDRESS);
  if (owner) {
    if (!owner->is_signer) return ERR(MISSING_SIGNER);
    if (!pubkey_eq(owner->key, key_at(position, POSITION_OWNER_AT))) return ERR(NOT_OWNER);
  }
  return SUCCESS;
}

/* Governance's parameters (initialize's arguments, an updateGovernance payload) within their bounds. */
#define G_VETO (GOVERNANCE_IX_INITIALIZE_VETO_BPS_AT - GOVERNANCE_IX_INITIALIZE_QUORUM_BPS_AT)
#define G_THRESHOLD (GOVERNANCE_IX_INITIALIZE_PROPOSAL_THRESHOLD_AT - GOVERNANCE_IX_INITIALIZE_QUORUM_BPS_AT)
#define G_VOTING (GOVERNANCE_IX_INITIALIZE_VOTING_SECONDS_AT - GOVERNANCE_IX_INITIALIZE_QUORUM_BPS_AT)
#define G_HOLD_UP (GOVERNANCE_IX_INITIALIZE_HOLD_UP_SECONDS_AT - GOVERNANCE_IX_INITIALIZE_QUORUM_BPS_AT)
#define G_APPEAL (GOVERNANCE_IX_INITIALIZE_APPEAL_SECONDS_AT - GOVERNANCE_IX_INITIALIZE_QUORUM_BPS_AT)
#define G_PROPOSER (GOVERNANCE_IX_INITIALIZE_SLASH_PROPOSER_AT - GOVERNANCE_IX_INITIALIZE_QUORUM_BPS_AT)
#define G_LEN (GOVERNANCE_IX_INITIALIZE_DATA_LEN - GOVERNANCE_IX_INITIALIZE_QUORUM_BPS_AT)
_Static_assert(G_LEN <= GOVERNANCE_PAYLOAD_SIZE, "governance's parameters fit a payload");

static inline bool period_ok(u64 seconds, u64 min) { return seconds >= min && seconds <= GOVERNANCE_MAX_PERIOD_SECONDS; }

__attribute__((noinline)) static u64 check_governance_params(const u8 *g) {
  u64 quorum = read_u16(g), veto = read_u16(g + G_VETO);
  if (quorum == 0 || quorum > 10000 || veto == 0 || veto > 10000) return ERR(INVALID_PARAMETER);
  if (!period_ok(read_u64(g + G_VOTING), GOVERNANCE_MIN_VOTING_SECONDS) || !period_ok(read_u64(g + G_HOLD_UP), 0) || !period_ok(read_u64(g + G_APPEAL), GOVERNANCE_MIN_VOTING_SECONDS)) return ERR(INVALID_PARAMETER);
  if (is_zero_key((const SolPubkey *)(g + G_PROPOSER))) return ERR(INVALID_PARAMETER);
  return SUCCESS;
}

__attribute__((noinline)) static void write_governance_params(SolAccountInfo *governance, const u8 *g) {
  write_u16(field(governance, GOVERNANCE_QUORUM_BPS_AT), read_u16(g));
  write_u16(field(governance, GOVERNANCE_VETO_BPS_AT), read_u16(g + G_VETO));
  write_u64(field(governance, GOVERNANCE_PROPOSAL_THRESHOLD_AT), read_u64(g + G_THRESHOLD));
  write_u64(field(governance, GOVERNANCE_VOTING_SECONDS_AT), read_u64(g + G_VOTING));
  write_u64(field(governance, GOVERNANCE_HOLD_UP_SECONDS_AT), read_u64(g + G_HOLD_UP));
  write_u64(field(governance, GOVERNANCE_APPEAL_SECONDS_AT), read_u64(g + G_APPEAL));
  copy_bytes(field(governance, GOVERNANCE_SLASH_PROPOSER_AT), g + G_PROPOSER, 32);
}

/*
 * A market's payload: its name (MARKET_ID: 1 to 32 of a-z, 0-9 and '-', zero-padded), then its
 * parameters in the account's order, each within the marketplace's bounds.
 */
#define MARKET_VALUES_AT GOVERNANCE_MARKET_NAME_SIZE
_Static_assert(MARKET_PARAMS_CHAT_VERIFY_BPS_AT - MARKET_PARAMS_LEASE_MS_AT == 8 * (GOVERNANCE_MARKET_FIELDS - 1), "a market's parameters are consecutive u64s");
_Static_assert(MARKET_VALUES_AT + 8 * GOVERNANCE_MARKET_FIELDS <= GOVERNANCE_PAYLOAD_SIZE, "a market fits a payload");

__attribute__((noinline)) static u64 check_market(const u8 *m) {
  u64 length = 0;
  while (length < GOVERNANCE_MARKET_NAME_SIZE && m[length] != 0) {
    u8 c = m[length];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return ERR(INVALID_PARAMETER);
    length++;
  }
  if (length == 0) return ERR(INVALID_PARAMETER);
  for (u64 i = length; i < GOVERNANCE_MARKET_NAME_SIZE; i++)
    if (m[i] != 0) return ERR(INVALID_PARAMETER);
  const u64 min[GOVERNANCE_MARKET_FIELDS] = {GOVERNANCE_MARKET_MIN_0, GOVERNANCE_MARKET_MIN_1, GOVERNANCE_MARKET_MIN_2, GOVERNANCE_MARKET_MIN_3, GOVERNANCE_MARKET_MIN_4, GOVERNANCE_MARKET_MIN_5, GOVERNANCE_MARKET_MIN_6, GOVERNANCE_MARKET_MIN_7};
  const u64 max[GOVERNANCE_MARKET_FIELDS] = {GOVERNANCE_MARKET_MAX_0, GOVERNANCE_MARKET_MAX_1, GOVERNANCE_MARKET_MAX_2, GOVERNANCE_MARKET_MAX_3, GOVERNANCE_MARKET_MAX_4, GOVERNANCE_MARKET_MAX_5, GOVERNANCE_MARKET_MAX_6, GOVERNANCE_MARKET_MAX_7};
  for (u64 i = 0; i < GOVERNANCE_MARKET_FIELDS; i++) {
    u64 v = read_u64(m + MARKET_VALUES_AT + 8 * i);
    if (v < min[i] || v > max[i]) return ERR(INVALID_PARAMETER);
  }
  return SUCCESS;
}

/* A PDA's seeds without its bump, and room for it after them. */
typedef struct {
  SolSignerSeed *seeds;
  int n;
} Seeds;

/* Creates `size` bytes of ours at the canonical PDA of `s`, paid by `payer`; its bump goes to byte 1. */
__attribute__((noinline)) static u64 create_pda(SolParameters *p, const SolAccountInfo *payer, SolAccountInfo *account, const Seeds *s, u64 size) {
  u8 bump;
  if (!pubkey_eq(account->owner, &SYSTEM_PROGRAM_ID) || account->data_len != 0) return ERR(ALREADY_INITIALIZED);
  if (!finds(s->seeds, s->n, p->program_id, account->key, &bump)) return ERR(WRONG_ADDRESS);
  s->seeds[s->n] = (SolSignerSeed){&bump, 1};
  SolSignerSeeds signer = {s->seeds, (u64)s->n + 1};
  Cpi cpi = {p->ka, p->ka_num, &signer};
  TRY(create_account(&cpi, payer, account, size, p->program_id));
  account->data[1] = bump;
  return SUCCESS;
}

/* Calls `program` with `data` over `metas`, signed by governance's PDA. */
__attribute__((noinline)) static u64 invoke_as_governance(SolParameters *p, const SolAccountInfo *governance, SolInstruction *ix) {
  u8 bump = governance->data[GOVERNANCE_BUMP_AT];
  SolSignerSeed seeds[2] = {SEED(SEED_GOVERNANCE), {&bump, 1}};
  SolSignerSeeds signer = {seeds, 2};
  return sol_invoke_signed_c(ix, p->ka, (int)p->ka_num, &signer, 1);
}

/*
 * The staking program's hold on `position` until `until`, signed by governance (the staking admin);
 * the program called is the owner of `config` (check_staking has checked it is among the accounts).
 */
__attribute__((noinline)) static u64 hold_position(SolParameters *p, const SolAccountInfo *governance, const SolAccountInfo *position, const SolAccountInfo *config, i64 until) {
  u8 data[STAKING_IX_HOLD_DATA_LEN];
  data[0] = STAKING_IX_HOLD;
  write_u64(data + STAKING_IX_HOLD_UNTIL_AT, (u64)until);
  SolAccountMeta metas[STAKING_IX_HOLD_ACCOUNTS];
  metas[STAKING_IX_HOLD_ADMIN] = (SolAccountMeta){governance->key, false, true};
  metas[STAKING_IX_HOLD_POSITION] = (SolAccountMeta){position->key, true, false};
  metas[STAKING_IX_HOLD_CONFIG] = (SolAccountMeta){config->key, false, false};
  SolInstruction ix = {config->owner, metas, STAKING_IX_HOLD_ACCOUNTS, data, sizeof(data)};
  return invoke_as_governance(p, governance, &ix);
}

static u64 initialize(SolParameters *p) {
  if (p->ka_num < GOVERNANCE_IX_INITIALIZE_ACCOUNTS || p->data_len != GOVERNANCE_IX_INITIALIZE_DATA_LEN) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *payer = &p->ka[GOVERNANCE_IX_INITIALIZE_PAYER], *governance = &p->ka[GOVERNANCE_IX_INITIALIZE_GOVERNANCE];
  const SolAccountInfo *staking = &p->ka[GOVERNANCE_IX_INITIALIZE_STAKING_CONFIG], *escrow = &p->ka[GOVERNANCE_IX_INITIALIZE_ESCROW_CONFIG];
  if (!payer->is_signer) return ERR(MISSING_SIGNER);
  if (!pubkey_eq(p->ka[GOVERNANCE_IX_INITIALIZE_SYSTEM_PROGRAM].key, &SYSTEM_PROGRAM_ID)) return ERR(WRONG_PROGRAM);
  if (staking->data_len != STAKING_CONFIG_SIZE || staking->data[0] != STAKING_CONFIG_KIND) return ERR(WRONG_OWNER);
  if (escrow->data_len != ESCROW_CONFIG_SIZE || escrow->data[0] != ESCROW_CONFIG_KIND) return ERR(WRONG_OWNER);
  const u8 *params = p->data + GOVERNANCE_IX_INITIALIZE_QUORUM_BPS_AT;
  TRY(check_governance_params(params));
  SolSignerSeed seeds[2] = {SEED(SEED_GOVERNANCE)};
  Seeds s = {seeds, 1};
  TRY(create_pda(p, payer, governance, &s, GOVERNANCE_SIZE));
  governance->data[0] = GOVERNANCE_KIND;
  copy_bytes(field(governance, GOVERNANCE_STAKING_CONFIG_AT), staking->key->x, 32);
  copy_bytes(field(governance, GOVERNANCE_ESCROW_CONFIG_AT), escrow->key->x, 32);
  write_governance_params(governance, params);
  return SUCCESS;
}

/* Opens proposal number governance.proposalCount at `proposal` (its PDA), paid by `payer`; times from now. */
__attribute__((noinline)) static u64 open_proposal(SolParameters *p, SolAccountInfo *governance, SolAccountInfo *proposal, const SolAccountInfo *payer, u64 action) {
  u8 index[8];
  u64 count = read_u64(field(governance, GOVERNANCE_PROPOSAL_COUNT_AT));
  write_u64(index, count);
  SolSignerSeed seeds[3] = {SEED(SEED_PROPOSAL), {index, 8}};
  Seeds s = {seeds, 2};
  TRY(create_pda(p, payer, proposal, &s, PROPOSAL_SIZE));
  write_u64(field(governance, GOVERNANCE_PROPOSAL_COUNT_AT), count + 1);
  i64 now = now_unix();
  bool slash = action == ACTION_SLASH;
  i64 voting_ends = now + (i64)read_u64(field(governance, slash ? GOVERNANCE_APPEAL_SECONDS_AT : GOVERNANCE_VOTING_SECONDS_AT));
  proposal->data[0] = PROPOSAL_KIND;
  proposal->data[PROPOSAL_ACTION_AT] = (u8)action;
  write_u64(field(proposal, PROPOSAL_INDEX_AT), count);
  copy_bytes(field(proposal, PROPOSAL_PROPOSER_AT), payer->key->x, 32);
  write_u64(field(proposal, PROPOSAL_OPENED_AT_AT), (u64)now);
  write_u64(field(proposal, PROPOSAL_VOTING_ENDS_AT_AT), (u64)voting_ends);
  write_u64(field(proposal, PROPOSAL_EXECUTABLE_AT_AT), (u64)(voting_ends + (slash ? 0 : (i64)read_u64(field(governance, GOVERNANCE_HOLD_UP_SECONDS_AT)))));
  return SUCCESS;
}

/*
 * A proposal's action fits its target: the escrow's or staking's updateConfig (the instruction's own
 * number first; the target program checks the values when it runs), a market, or governance itself.
 */
__attribute__((noinline)) static u64 check_action(const SolAccountInfo *governance, u64 action, const u8 *target, const u8 *payload) {
  switch (action) {
    case ACTION_UPDATE_ESCROW:
      if (!pubkey_eq((const SolPubkey *)target, key_at(governance, GOVERNANCE_ESCROW_CONFIG_AT)) || payload[0] != ESCROW_IX_UPDATE_CONFIG) return ERR(WRONG_ACTION);
      return SUCCESS;
    case ACTION_UPDATE_STAKING:
      if (!pubkey_eq((const SolPubkey *)target, key_at(governance, GOVERNANCE_STAKING_CONFIG_AT)) || payload[0] != STAKING_IX_UPDATE_CONFIG) return ERR(WRONG_ACTION);
      return SUCCESS;
    case ACTION_SET_MARKET:
      return check_market(payload);
    case ACTION_UPDATE_GOVERNANCE:
      if (!pubkey_eq((const SolPubkey *)target, governance->key)) return ERR(WRONG_ACTION);
      return check_governance_params(payload);
    default:
      return ERR(WRONG_ACTION);
  }
}

static u64 propose(SolParameters *p) {
  if (p->ka_num < GOVERNANCE_IX_PROPOSE_ACCOUNTS || p->data_len != GOVERNANCE_IX_PROPOSE_DATA_LEN) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *proposer = &p->ka[GOVERNANCE_IX_PROPOSE_PROPOSER], *governance = &p->ka[GOVERNANCE_IX_PROPOSE_GOVERNANCE], *proposal = &p->ka[GOVERNANCE_IX_PROPOSE_PROPOSAL];
  const SolAccountInfo *position = &p->ka[GOVERNANCE_IX_PROPOSE_POSITION], *staking = &p->ka[GOVERNANCE_IX_PROPOSE_STAKING_CONFIG];
  TRY(check_governance(governance, p->program_id));
  TRY(check_staking(governance, staking, NULL));
  TRY(check_position(position, staking, proposer));
  if (!pubkey_eq(p->ka[GOVERNANCE_IX_PROPOSE_SYSTEM_PROGRAM].key, &SYSTEM_PROGRAM_ID)) return ERR(WRONG_PROGRAM);
  if (read_u64(field(position, POSITION_WEIGHT_AT)) < read_u64(field(governance, GOVERNANCE_PROPOSAL_THRESHOLD_AT)) || read_u64(field(position, POSITION_WEIGHT_AT)) == 0) return ERR(BELOW_THRESHOLD);
  u64 action = p->data[GOVERNANCE_IX_PROPOSE_ACTION_AT];
  const u8 *payload = p->data + GOVERNANCE_IX_PROPOSE_PAYLOAD_AT;
  TRY(check_action(governance, action, p->data + GOVERNANCE_IX_PROPOSE_TARGET_AT, payload));
  TRY(open_proposal(p, governance, proposal, proposer, action));
  write_u64(field(proposal, PROPOSAL_WEIGHT_AT_OPEN_AT), read_u64(field(staking, STAKING_CONFIG_TOTAL_WEIGHT_AT)));
  copy_bytes(field(proposal, PROPOSAL_TARGET_AT), p->data + GOVERNANCE_IX_PROPOSE_TARGET_AT, 32);
  copy_bytes(field(proposal, PROPOSAL_EXTRA_AT), p->data + GOVERNANCE_IX_PROPOSE_EXTRA_AT, 32);
  copy_bytes(field(proposal, PROPOSAL_EXTRA2_AT), p->data + GOVERNANCE_IX_PROPOSE_EXTRA2_AT, 32);
  copy_bytes(field(proposal, PROPOSAL_PAYLOAD_AT), payload, GOVERNANCE_PAYLOAD_SIZE);
  return SUCCESS;
}

static u64 propose_slash(SolParameters *p) {
  if (p->ka_num < GOVERNANCE_IX_PROPOSE_SLASH_ACCOUNTS || p->data_len != GOVERNANCE_IX_PROPOSE_SLASH_DATA_LEN) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *proposer = &p->ka[GOVERNANCE_IX_PROPOSE_SLASH_SLASH_PROPOSER], *governance = &p->ka[GOVERNANCE_IX_PROPOSE_SLASH_GOVERNANCE], *proposal = &p->ka[GOVERNANCE_IX_PROPOSE_SLASH_PROPOSAL];
  const SolAccountInfo *position = &p->ka[GOVERNANCE_IX_PROPOSE_SLASH_POSITION], *staking = &p->ka[GOVERNANCE_IX_PROPOSE_SLASH_STAKING_CONFIG];
  TRY(check_governance(governance, p->program_id));
  TRY(check_staking(governance, staking, &p->ka[GOVERNANCE_IX_PROPOSE_SLASH_STAKING_PROGRAM]));
  TRY(check_position(position, staking, NULL));
  if (!pubkey_eq(p->ka[GOVERNANCE_IX_PROPOSE_SLASH_SYSTEM_PROGRAM].key, &SYSTEM_PROGRAM_ID)) return ERR(WRONG_PROGRAM);
  if (!proposer->is_signer) return ERR(MISSING_SIGNER);
  if (!pubkey_eq(proposer->key, key_at(governance, GOVERNANCE_SLASH_PROPOSER_AT))) return ERR(NOT_SLASH_PROPOSER);
  u64 amount = read_u64(p->data + GOVERNANCE_IX_PROPOSE_SLASH_AMOUNT_AT);
  if (amount == 0) return ERR(INVALID_PARAMETER);
  /* The per-event bound of the staking configuration (the per-epoch one is the staking program's, at execution). */
  if (amount > mul_bps(read_u64(field(position, POSITION_AMOUNT_AT)), read_u16(field(staking, STAKING_CONFIG_MAX_SLASH_BPS_PER_EVENT_AT)))) return ERR(SLASH_TOO_LARGE);
  TRY(open_proposal(p, governance, proposal, proposer, ACTION_SLASH));
  write_u64(field(proposal, PROPOSAL_WEIGHT_AT_OPEN_AT), read_u64(field(staking, STAKING_CONFIG_TOTAL_WEIGHT_AT)));
  copy_bytes(field(proposal, PROPOSAL_TARGET_AT), position->key->x, 32);
  copy_bytes(field(proposal, PROPOSAL_EXTRA_AT), field(position, POSITION_OWNER_AT), 32);
  copy_bytes(field(proposal, PROPOSAL_EVIDENCE_AT), p->data + GOVERNANCE_IX_PROPOSE_SLASH_EVIDENCE_AT, 32);
  copy_bytes(field(proposal, PROPOSAL_DIGESTS_AT), p->data + GOVERNANCE_IX_PROPOSE_SLASH_DIGESTS_AT, 32);
  write_u64(field(proposal, PROPOSAL_PAYLOAD_AT), amount);
  /* The accused may neither unstake nor withdraw before the slash can be carried out. */
  i64 until = (i64)read_u64(field(proposal, PROPOSAL_EXECUTABLE_AT_AT)) + GOVERNANCE_SLASH_GRACE_SECONDS;
  return hold_position(p, governance, position, staking, until);
}

static u64 vote(SolParameters *p) {
  if (p->ka_num < GOVERNANCE_IX_VOTE_ACCOUNTS || p->data_len != GOVERNANCE_IX_VOTE_DATA_LEN) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *voter = &p->ka[GOVERNANCE_IX_VOTE_VOTER], *position = &p->ka[GOVERNANCE_IX_VOTE_POSITION], *proposal = &p->ka[GOVERNANCE_IX_VOTE_PROPOSAL], *record = &p->ka[GOVERNANCE_IX_VOTE_VOTE_RECORD];
  const SolAccountInfo *governance = &p->ka[GOVERNANCE_IX_VOTE_GOVERNANCE], *staking = &p->ka[GOVERNANCE_IX_VOTE_STAKING_CONFIG];
  TRY(check_governance(governance, p->program_id));
  TRY(check_proposal(proposal, p->program_id));
  TRY(check_staking(governance, staking, &p->ka[GOVERNANCE_IX_VOTE_STAKING_PROGRAM]));
  TRY(check_position(position, staking, voter));
  if (!pubkey_eq(p->ka[GOVERNANCE_IX_VOTE_SYSTEM_PROGRAM].key, &SYSTEM_PROGRAM_ID)) return ERR(WRONG_PROGRAM);
  u64 side = p->data[GOVERNANCE_IX_VOTE_SIDE_AT];
  if (side != SIDE_AGAINST && side != SIDE_FOR) return ERR(INVALID_PARAMETER);
  i64 now = now_unix();
  i64 ends = (i64)read_u64(field(proposal, PROPOSAL_VOTING_ENDS_AT_AT));
  if (now >= ends || proposal->data[PROPOSAL_EXECUTED_AT] != 0) return ERR(VOTING_CLOSED);
  u64 weight = read_u64(field(position, POSITION_WEIGHT_AT));
  if (weight == 0) return ERR(NO_WEIGHT);
  /* Weight that stood before the opening only: no position made, topped up or extended since. */
  if ((i64)read_u64(field(position, POSITION_GREW_AT_AT)) >= (i64)read_u64(field(proposal, PROPOSAL_OPENED_AT_AT))) return ERR(POSITION_TOO_NEW);
  if (proposal->data[PROPOSAL_ACTION_AT] == ACTION_SLASH && pubkey_eq(voter->key, key_at(proposal, PROPOSAL_EXTRA_AT))) return ERR(NOT_ELIGIBLE);
  if (record->data_len != 0) return ERR(ALREADY_VOTED);
  SolSignerSeed seeds[4] = {SEED(SEED_VOTE), {proposal->key->x, 32}, {position->key->x, 32}};
  Seeds s = {seeds, 3};
  TRY(create_pda(p, voter, record, &s, VOTE_RECORD_SIZE));
  record->data[0] = VOTE_RECORD_KIND;
  record->data[VOTE_RECORD_SIDE_AT] = (u8)side;
  copy_bytes(field(record, VOTE_RECORD_PROPOSAL_AT), proposal->key->x, 32);
  copy_bytes(field(record, VOTE_RECORD_POSITION_AT), position->key->x, 32);
  copy_bytes(field(record, VOTE_RECORD_VOTER_AT), voter->key->x, 32);
  write_u64(field(record, VOTE_RECORD_WEIGHT_AT), weight);
  write_u64(field(record, VOTE_RECORD_VOTED_AT_AT), (u64)now);
  u64 tally_at = side == SIDE_FOR ? PROPOSAL_FOR_WEIGHT_AT : PROPOSAL_AGAINST_WEIGHT_AT;
  u64 tally = read_u64(field(proposal, tally_at));
  if (tally + weight < tally) return ERR(INVALID_PARAMETER);
  write_u64(field(proposal, tally_at), tally + weight);
  write_u64(field(proposal, PROPOSAL_VOTERS_AT), read_u64(field(proposal, PROPOSAL_VOTERS_AT)) + 1);
  /* Held until the vote ends: the position cannot leave and come back as another to vote again. */
  return hold_position(p, governance, position, staking, ends);
}

/* A proposal that may run now: ours, not yet run, its voting and hold-up (or appeal window) over. */
__attribute__((noinline)) static u64 check_runnable(const SolAccountInfo *proposal, const SolPubkey *program) {
  TRY(check_proposal(proposal, program));
  if (proposal->data[PROPOSAL_EXECUTED_AT] != 0) return ERR(ALREADY_EXECUTED);
  if (now_unix() < (i64)read_u64(field(proposal, PROPOSAL_EXECUTABLE_AT_AT))) return ERR(TOO_EARLY);
  return SUCCESS;
}

/* updateEscrow, updateStaking: the target program's updateConfig, governance's PDA signing as its admin. */
__attribute__((noinline)) static u64 update_config(SolParameters *p, const SolAccountInfo *governance, const SolAccountInfo *proposal, u64 len, u64 extras) {
  const SolAccountInfo *target = &p->ka[GOVERNANCE_IX_EXECUTE_TARGET], *program = &p->ka[GOVERNANCE_IX_EXECUTE_PROGRAM];
  if (!pubkey_eq(program->key, target->owner)) return ERR(WRONG_PROGRAM);
  if (!pubkey_eq(p->ka[GOVERNANCE_IX_EXECUTE_EXTRA].key, key_at(proposal, PROPOSAL_EXTRA_AT))) return ERR(WRONG_ADDRESS);
  if (extras > 1 && !pubkey_eq(p->ka[GOVERNANCE_IX_EXECUTE_EXTRA2].key, key_at(proposal, PROPOSAL_EXTRA2_AT))) return ERR(WRONG_ADDRESS);
  SolAccountMeta metas[4] = {{governance->key, false, true}, {target->key, true, false}, {p->ka[GOVERNANCE_IX_EXECUTE_EXTRA].key, false, false}, {p->ka[GOVERNANCE_IX_EXECUTE_EXTRA2].key, false, false}};
  SolInstruction ix = {program->key, metas, 2 + extras, field(proposal, PROPOSAL_PAYLOAD_AT), len};
  return invoke_as_governance(p, governance, &ix);
}
_Static_assert(ESCROW_IX_UPDATE_CONFIG_ADMIN == 0 && ESCROW_IX_UPDATE_CONFIG_CONFIG == 1 && ESCROW_IX_UPDATE_CONFIG_REWARD_VAULT == 2 && ESCROW_IX_UPDATE_CONFIG_TREASURY == 3, "escrow updateConfig: admin, config, reward vault, treasury");
_Static_assert(STAKING_IX_UPDATE_CONFIG_ADMIN == 0 && STAKING_IX_UPDATE_CONFIG_CONFIG == 1 && STAKING_IX_UPDATE_CONFIG_TREASURY == 2, "staking updateConfig: admin, config, treasury");

/* setMarket: the market's parameter account (PDA "market", name), created by the executor when absent. */
__attribute__((noinline)) static u64 set_market(SolParameters *p, const SolAccountInfo *proposal) {
  SolAccountInfo *market = &p->ka[GOVERNANCE_IX_EXECUTE_TARGET];
  const u8 *payload = field(proposal, PROPOSAL_PAYLOAD_AT);
  TRY(check_market(payload));
  if (market->data_len == 0) {
    if (!pubkey_eq(p->ka[GOVERNANCE_IX_EXECUTE_SYSTEM_PROGRAM].key, &SYSTEM_PROGRAM_ID)) return ERR(WRONG_PROGRAM);
    SolSignerSeed seeds[3] = {SEED(SEED_MARKET), {payload, GOVERNANCE_MARKET_NAME_SIZE}};
    Seeds s = {seeds, 2};
    TRY(create_pda(p, &p->ka[GOVERNANCE_IX_EXECUTE_EXECUTOR], market, &s, MARKET_PARAMS_SIZE));
    market->data[0] = MARKET_PARAMS_KIND;
    copy_bytes(field(market, MARKET_PARAMS_MARKET_AT), payload, GOVERNANCE_MARKET_NAME_SIZE);
  } else {
    if (!pubkey_eq(market->owner, p->program_id) || market->data_len != MARKET_PARAMS_SIZE || market->data[0] != MARKET_PARAMS_KIND) return ERR(WRONG_ADDRESS);
    u8 bump = market->data[MARKET_PARAMS_BUMP_AT];
    SolSignerSeed seeds[3] = {SEED(SEED_MARKET), {payload, GOVERNANCE_MARKET_NAME_SIZE}, {&bump, 1}};
    if (!derives(seeds, 3, p->program_id, market->key)) return ERR(WRONG_ADDRESS);
  }
  write_u64(field(market, MARKET_PARAMS_UPDATED_AT_AT), (u64)now_unix());
  write_u64(field(market, MARKET_PARAMS_PROPOSAL_AT), read_u64(field(proposal, PROPOSAL_INDEX_AT)));
  copy_bytes(field(market, MARKET_PARAMS_LEASE_MS_AT), payload + MARKET_VALUES_AT, 8 * GOVERNANCE_MARKET_FIELDS);
  return SUCCESS;
}

static u64 execute(SolParameters *p) {
  if (p->ka_num < GOVERNANCE_IX_EXECUTE_ACCOUNTS || p->data_len != GOVERNANCE_IX_EXECUTE_DATA_LEN) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *executor = &p->ka[GOVERNANCE_IX_EXECUTE_EXECUTOR], *governance = &p->ka[GOVERNANCE_IX_EXECUTE_GOVERNANCE], *proposal = &p->ka[GOVERNANCE_IX_EXECUTE_PROPOSAL];
  TRY(check_governance(governance, p->program_id));
  TRY(check_runnable(proposal, p->program_id));
  if (!executor->is_signer) return ERR(MISSING_SIGNER);
  u64 action = proposal->data[PROPOSAL_ACTION_AT];
  if (action == ACTION_SLASH) return ERR(WRONG_ACTION);
  u64 yes = read_u64(field(proposal, PROPOSAL_FOR_WEIGHT_AT)), no = read_u64(field(proposal, PROPOSAL_AGAINST_WEIGHT_AT));
  u64 quorum = mul_bps(read_u64(field(proposal, PROPOSAL_WEIGHT_AT_OPEN_AT)), read_u16(field(governance, GOVERNANCE_QUORUM_BPS_AT)));
  if (yes < quorum || yes <= no) return ERR(NOT_PASSED);
  if (action != ACTION_SET_MARKET && !pubkey_eq(p->ka[GOVERNANCE_IX_EXECUTE_TARGET].key, key_at(proposal, PROPOSAL_TARGET_AT))) return ERR(WRONG_ADDRESS);
  proposal->data[PROPOSAL_EXECUTED_AT] = 1;
  switch (action) {
    case ACTION_UPDATE_ESCROW: return update_config(p, governance, proposal, ESCROW_IX_UPDATE_CONFIG_DATA_LEN, 2);
    case ACTION_UPDATE_STAKING: return update_config(p, governance, proposal, STAKING_IX_UPDATE_CONFIG_DATA_LEN, 1);
    case ACTION_SET_MARKET: return set_market(p, proposal);
    case ACTION_UPDATE_GOVERNANCE:
      TRY(check_governance_params(field(proposal, PROPOSAL_PAYLOAD_AT)));
      write_governance_params(governance, field(proposal, PROPOSAL_PAYLOAD_AT));
      return SUCCESS;
    default: return ERR(WRONG_ACTION);
  }
}

static u64 execute_slash(SolParameters *p) {
  if (p->ka_num < GOVERNANCE_IX_EXECUTE_SLASH_ACCOUNTS || p->data_len != GOVERNANCE_IX_EXECUTE_SLASH_DATA_LEN) return ERR(INVALID_INSTRUCTION);
  SolAccountInfo *executor = &p->ka[GOVERNANCE_IX_EXECUTE_SLASH_EXECUTOR], *governance = &p->ka[GOVERNANCE_IX_EXECUTE_SLASH_GOVERNANCE], *proposal = &p->ka[GOVERNANCE_IX_EXECUTE_SLASH_PROPOSAL];
  const SolAccountInfo *staking = &p->ka[GOVERNANCE_IX_EXECUTE_SLASH_STAKING_CONFIG], *program = &p->ka[GOVERNANCE_IX_EXECUTE_SLASH_STAKING_PROGRAM];
  TRY(check_governance(governance, p->program_id));
  TRY(check_runnable(proposal, p->program_id));
  TRY(check_staking(governance, staking, program));
  if (!executor->is_signer) return ERR(MISSING_SIGNER);
  if (proposal->data[PROPOSAL_ACTION_AT] != ACTION_SLASH) return ERR(WRONG_ACTION);
  if (!pubkey_eq(p->ka[GOVERNANCE_IX_EXECUTE_SLASH_POSITION].key, key_at(proposal, PROPOSAL_TARGET_AT))) return ERR(WRONG_ADDRESS);
  u64 veto = read_u64(field(proposal, PROPOSAL_AGAINST_WEIGHT_AT));
  if (veto > 0 && veto >= mul_bps(read_u64(field(proposal, PROPOSAL_WEIGHT_AT_OPEN_AT)), read_u16(field(governance, GOVERNANCE_VETO_BPS_AT)))) return ERR(VETOED);
  proposal->data[PROPOSAL_EXECUTED_AT] = 1;
  u8 data[STAKING_IX_SLASH_DATA_LEN];
  data[0] = STAKING_IX_SLASH;
  write_u64(data + STAKING_IX_SLASH_AMOUNT_AT, read_u64(field(proposal, PROPOSAL_PAYLOAD_AT)));
  copy_bytes(data + STAKING_IX_SLASH_EVIDENCE_AT, field(proposal, PROPOSAL_EVIDENCE_AT), 32);
  SolAccountMeta metas[STAKING_IX_SLASH_ACCOUNTS];
  metas[STAKING_IX_SLASH_SLASH_AUTHORITY] = (SolAccountMeta){governance->key, false, true};
  metas[STAKING_IX_SLASH_POSITION] = (SolAccountMeta){p->ka[GOVERNANCE_IX_EXECUTE_SLASH_POSITION].key, true, false};
  metas[STAKING_IX_SLASH_CONFIG] = (SolAccountMeta){staking->key, true, false};
  metas[STAKING_IX_SLASH_STAKE_VAULT] = (SolAccountMeta){p->ka[GOVERNANCE_IX_EXECUTE_SLASH_STAKE_VAULT].key, true, false};
  metas[STAKING_IX_SLASH_TREASURY] = (SolAccountMeta){p->ka[GOVERNANCE_IX_EXECUTE_SLASH_TREASURY].key, true, false};
  metas[STAKING_IX_SLASH_MINT] = (SolAccountMeta){p->ka[GOVERNANCE_IX_EXECUTE_SLASH_MINT].key, false, false};
  metas[STAKING_IX_SLASH_TOKEN_PROGRAM] = (SolAccountMeta){p->ka[GOVERNANCE_IX_EXECUTE_SLASH_TOKEN_PROGRAM].key, false, false};
  SolInstruction ix = {program->key, metas, STAKING_IX_SLASH_ACCOUNTS, data, sizeof(data)};
  return invoke_as_governance(p, governance, &ix);
}

u64 entrypoint(const u8 *input) {
  SolParameters p;
  p.ka = (SolAccountInfo *)HEAP_START;
  if (!sol_deserialize(input, &p, MAX_ACCOUNTS)) return ERR(TOO_MANY_ACCOUNTS);
  if (p.data_len == 0) return ERR(INVALID_INSTRUCTION);
  switch (p.data[0]) {
    case GOVERNANCE_IX_INITIALIZE: return initialize(&p);
    case GOVERNANCE_IX_PROPOSE: return propose(&p);
    case GOVERNANCE_IX_PROPOSE_SLASH: return propose_slash(&p);
    case GOVERNANCE_IX_VOTE: return vote(&p);
    case GOVERNANCE_IX_EXECUTE: return execute(&p);
    case GOVERNANCE_IX_EXECUTE_SLASH: return execute_slash(&p);
    default: return ERR(INVALID_INSTRUCTION);
  }
}
