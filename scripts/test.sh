#!/usr/bin/env bash
# test.sh: regmirror's whole test suite, the one command in the README.
#
#   scripts/test.sh               # everything, in this order:
#   scripts/test.sh vet unit fuzz e2e bench   # or any of these stages
#
#   deps  scripts/install-deps.sh (always first; SKIP_DEPS=1 skips it)
#   vet   go vet ./... and gofmt -l .                        2 checks
#   unit  go test [-race] ./...                              1 check per package with tests
#   fuzz  go test -run=^$ -fuzz=^FuzzX$ -fuzztime=20000x PKG 1 check per Fuzz target
#   e2e   go build bin/regmirror, then test/e2e/*.sh         1 check for the build,
#                                                            + every check the scripts count
#   bench scripts/bench.sh --ci (count-based checks only)    every check it counts
#
# The last line is "N passed, N failed", the sum over all stages; the exit
# status is 1 if anything failed. A package or script that fails without
# reporting a failure (build error, crash, timeout) counts as one failure.
#
# Env:
#   CI=true      no test cache (-count=1); e2e scripts print daemon logs on failure
#   RACE=0|1     go test -race (default 1 when cgo works; the mirror is concurrent)
#   FUZZTIME     per fuzz target (default 20000x: iterations, not seconds)
#   E2E="core docker"  run only these e2e scripts (default: all test/e2e/*.sh)
#   KEEP_LOGS=1  keep the per-stage logs (kept anyway when something failed)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
GOBIN_DIR="$(go env GOPATH | cut -d: -f1)/bin"
export PATH="$ROOT/bin:$GOBIN_DIR:$PATH"

STAGES=("$@")
[ ${#STAGES[@]} -gt 0 ] || STAGES=(vet unit fuzz e2e bench)
LOGS=$(mktemp -d /tmp/regmirror-test.XXXXXX)
TOTAL_PASS=0
TOTAL_FAIL=0
SUMMARY=()

say() { printf '\n=== %s\n' "$*"; }

# tally NAME PASS FAIL SECONDS: add a stage's result to the totals.
tally() {
  TOTAL_PASS=$((TOTAL_PASS + $2))
  TOTAL_FAIL=$((TOTAL_FAIL + $3))
  SUMMARY+=("$(printf '%-22s %4d passed, %3d failed  %5ss' "$1" "$2" "$3" "$4")")
}

stage_vet() {
  local t0=$SECONDS pass=0 fail=0 unformatted
  say "go vet ./... and gofmt -l ."
  if go vet ./... 2>&1 | tee "$LOGS/vet.log"; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
  fi
  unformatted=$(gofmt -l . 2>&1)
  if [ -z "$unformatted" ]; then
    pass=$((pass + 1))
  else
    echo "not gofmt-formatted:"
    echo "$unformatted"
    fail=$((fail + 1))
  fi
  tally vet "$pass" "$fail" $((SECONDS - t0))
}

race_flag() {
  if [ "${RACE:-1}" = 1 ] && [ "$(go env CGO_ENABLED)" = 1 ] && command -v gcc >/dev/null; then
    echo -race
  fi
}

stage_unit() {
  local t0=$SECONDS flags=(-timeout 10m) rc pass fail
  [ -n "$(race_flag)" ] && flags+=(-race)
  [ "${CI:-}" = true ] && flags+=(-count=1)
  say "go test ${flags[*]} ./..."
  go test "${flags[@]}" ./... 2>&1 | tee "$LOGS/unit.log"
  rc=${PIPESTATUS[0]}
  pass=$(grep -cE '^ok[[:space:]]' "$LOGS/unit.log")
  fail=$(grep -cE '^FAIL[[:space:]]+[^[:space:]]+' "$LOGS/unit.log")
  if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
  tally "unit (packages)" "$pass" "$fail" $((SECONDS - t0))
}

# fuzz_targets: "DIR NAME" for every func FuzzX in a _test.go file.
fuzz_targets() {
  grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' . 2>/dev/null |
    grep -v '/testdata/' |
    sed -E 's|^\./(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($|\1 \2|' | sort -u
}

stage_fuzz() {
  local t0=$SECONDS pass=0 fail=0 dir name
  say "fuzz (${FUZZTIME:-20000x} each)"
  while read -r dir name; do
    [ -n "$name" ] || continue
    echo "--- $name in ./$dir"
    if go test -run='^$' -fuzz="^$name\$" -fuzztime="${FUZZTIME:-20000x}" "./$dir" >"$LOGS/fuzz-$name.log" 2>&1; then
      pass=$((pass + 1))
      tail -n 1 "$LOGS/fuzz-$name.log"
    else
      fail=$((fail + 1))
      echo "FAIL - $name"
      tail -n 20 "$LOGS/fuzz-$name.log"
    fi
  done < <(fuzz_targets)
  tally fuzz "$pass" "$fail" $((SECONDS - t0))
}

stage_e2e() {
  local t0=$SECONDS s name rc line p f scripts=()
  say "build bin/regmirror"
  if go build -o bin/regmirror ./cmd/regmirror; then
    tally "e2e build" 1 0 $((SECONDS - t0))
  else
    tally "e2e build" 0 1 $((SECONDS - t0))
    return
  fi
  export REGMIRROR_BIN=$ROOT/bin/regmirror
  if [ -n "${E2E:-}" ]; then
    for name in $E2E; do scripts+=("test/e2e/$name.sh"); done
  else
    for s in test/e2e/*.sh; do
      [ "$(basename "$s")" = lib.sh ] || scripts+=("$s")
    done
  fi
  for s in "${scripts[@]}"; do
    run_counted "e2e $(basename "$s" .sh)" bash "$s"
  done
}

# stage_bench: the benchmark's CI mode (small blobs, a few seconds). It
# asserts only count-based properties: one upstream GET under concurrency,
# zero upstream requests for cached digests, streaming before the upstream
# transfer ends. Timings are reported by `make bench`, never asserted.
stage_bench() {
  run_counted "bench --ci" bash scripts/bench.sh --ci
}

# run_counted NAME CMD...: runs a script that ends with "N passed, N
# failed" and adds its counts; a non-zero exit without a reported failure
# counts as one failure.
run_counted() {
  local name=$1 t0=$SECONDS log rc line p f
  shift
  log=$LOGS/$(echo "$name" | tr ' /' '__')
  say "$name"
  timeout 900 "$@" 2>"$log.err" | tee "$log.log"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log.log" | tail -n 1)
  p=0 f=0
  if [ -n "$line" ]; then
    p=${line%% passed*}
    f=${line#*passed, }
    f=${f%% failed}
  fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1
    echo "FAIL - $name exited with status $rc without reporting a failure"
  fi
  if [ "$f" -gt 0 ] || [ "$rc" -ne 0 ]; then
    echo "--- stderr of $name (last 40 lines; all in $log.err)"
    tail -n 40 "$log.err"
  fi
  tally "$name" "$p" "$f" $((SECONDS - t0))
}

T0=$SECONDS
if [ -z "${SKIP_DEPS:-}" ]; then
  say "scripts/install-deps.sh"
  scripts/install-deps.sh || { echo "install-deps failed"; echo "0 passed, 1 failed"; exit 1; }
fi
for st in "${STAGES[@]}"; do
  case $st in
  vet | unit | fuzz | e2e | bench) "stage_$st" ;;
  deps) ;;
  *) echo "unknown stage $st (want vet, unit, fuzz, e2e, bench)"; exit 2 ;;
  esac
done

say "summary ($((SECONDS - T0))s; logs in $LOGS)"
printf '%s\n' "${SUMMARY[@]}"
if [ "$TOTAL_FAIL" -eq 0 ] && [ -z "${KEEP_LOGS:-}" ]; then rm -rf "$LOGS"; fi
echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
[ "$TOTAL_FAIL" -eq 0 ]
