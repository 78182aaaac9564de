#!/usr/bin/env bash
# `bash test/mutations/run.sh`: breaks each core money rule on purpose, in a scratch copy of the
# domain, and runs the domain's plain-Node specs against it. Every mutation must make them fail
# (a rule whose break leaves the specs green is not pinned by them). Not part of `npm test`: it runs
# the domain suite once per mutation. Prints one line per mutation; exits 1 if any survives.
set -uo pipefail
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
W="$(mktemp -d)"
trap 'rm -rf "$W"' EXIT
survived=0

mutate() { # name, file, exact text, replacement
  rm -rf "$W/tree" && mkdir -p "$W/tree/web"
  cp -r "$SRC/durable-objects" "$SRC/programs" "$SRC/package.json" "$SRC/vitest.node.config.ts" "$SRC/tsconfig.json" "$W/tree/"
  cp "$SRC/web/aliases.cjs" "$W/tree/web/" && ln -s "$SRC/node_modules" "$W/tree/node_modules"
  node -e 'const fs=require("fs");const [p,a,b]=process.argv.slice(1);const s=fs.readFileSync(p,"utf8");if(!s.includes(a)){console.error("mutation target not found in "+p);process.exit(2)}fs.writeFileSync(p,s.replace(a,b))' "$W/tree/$2" "$3" "$4" || exit 2
  if (cd "$W/tree" && timeout 300 npx vitest run --config vitest.node.config.ts durable-objects/domain >/dev/null 2>&1); then
    echo "SURVIVED  $1"; survived=1
  else
    echo "caught    $1"
  fi
}

mutate "verification compares no replicas" durable-objects/domain/job/agreement.ts \
  "  if (state.status === 'none' || state.spec.tolerance === null) return [];" "  return [];"
mutate "a minority replica is paid" durable-objects/domain/job/decide.ts \
  "      settle(draft, verdict.winners, 'majority');" "      settle(draft, [...verdict.winners, ...verdict.losers], 'majority');"
mutate "a refused bid's escrow is not released" durable-objects/domain/placement/decide.ts \
  "    case 'releasing': {" "    case 'releasing-never': {"
mutate "a lapsed lease is not re-matched" durable-objects/domain/job/decide.ts \
  "    if (r.rematches >= job.params.maxRematches) {" "    if (true) {"
mutate "a challenge loser does not pay" durable-objects/domain/job/decide.ts \
  "      return payoutFor(job, r, fromChallenge ? job.challenge!.holdId : job.holdId);" "      return payoutFor(job, r, job.holdId);"
exit $survived
