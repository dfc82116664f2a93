#!/usr/bin/env bash
# bench.sh: regmirror against its peers, everything on loopback.
#
#   scripts/bench.sh          full run: W1..W4 and memory, one table (docs/benchmarks.md)
#   scripts/bench.sh --ci     a few seconds: count-based properties of regmirror only,
#                             prints "N passed, N failed", exits non-zero on failure
#
# Environment:
#   SHAPE=1         put 20 ms RTT and 400 Mbit/s per transfer between every peer
#                   and the upstream (RTT=, RATE= override), so the upstream looks remote
#   BIG=1           the big layer is 1 GiB instead of 256 MiB
#   CLIENTS=32      W3 concurrent clients;  CONNS=64 W4 connections;  W4_SECONDS=10
#   PEERS="direct regmirror registry-proxy nginx-cache"   which servers to measure
#                   (nginx static is always measured for W2; targets need direct and nginx-cache)
#   REPEAT=15       W2 single-GET rounds (the median counts: one GET is noisy)
#   W1_ROUNDS=3     cold pulls per server (the median round counts)
#   BENCH_DIR=/tmp/regmirror-bench   scratch (several GiB; wiped at start, data removed at end)
#   BASE_PORT=5850 (5880 with --ci)  ports BASE..BASE+13 on 127.0.0.1
#   KEEP=1          keep BENCH_DIR's data at the end
#
# Layout (one shaper per server under test, so each one's upstream traffic
# is counted apart; the shaper is a plain recording proxy unless SHAPE=1):
#
#   client ─────────────────────────────── shaper:+1 ─┐
#   client ── regmirror :+10 ───────────── shaper:+2 ─┤
#   client ── docker-registry proxy :+11 ─ shaper:+3 ─┼── docker-registry :+0 (the upstream)
#   client ── nginx proxy_cache :+12 ───── shaper:+4 ─┘
#   client ── nginx static sendfile :+13 (the big layer file; the W2 ceiling)
#
# Server configs: bench/*.yml, bench/*.yaml, bench/*.conf (@VARS@ filled in here).
# Needs: go, docker-registry, nginx (nginx-light), curl, jq (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO_ROOT=$PWD

MODE=full
case "${1:-}" in
  --ci) MODE=ci ;;
  "") ;;
  -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
  *) echo "usage: $0 [--ci]" >&2; exit 2 ;;
esac

if [ "$MODE" = ci ]; then
  BASE_PORT=${BASE_PORT:-5880}
  BENCH_DIR=${BENCH_DIR:-/tmp/regmirror-bench-ci}
else
  BASE_PORT=${BASE_PORT:-5850}
  BENCH_DIR=${BENCH_DIR:-/tmp/regmirror-bench}
fi
CLIENTS=${CLIENTS:-32}
CONNS=${CONNS:-64}
W4_SECONDS=${W4_SECONDS:-10}
REPEAT=${REPEAT:-15}
W1_ROUNDS=${W1_ROUNDS:-3}
REPO=library/bench

P_UP=$BASE_PORT
declare -A SHAPER_PORT=([direct]=$((BASE_PORT + 1)) [regmirror]=$((BASE_PORT + 2)) [registry-proxy]=$((BASE_PORT + 3)) [nginx-cache]=$((BASE_PORT + 4)))
declare -A PEER_PORT=([direct]=$((BASE_PORT + 1)) [regmirror]=$((BASE_PORT + 10)) [registry-proxy]=$((BASE_PORT + 11)) [nginx-cache]=$((BASE_PORT + 12)) [nginx-static]=$((BASE_PORT + 13)))
declare -A PID=()

say() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

for c in go docker-registry curl jq; do
  command -v "$c" >/dev/null || die "$c not found (run scripts/install-deps.sh)"
done
if [ "$MODE" = full ]; then command -v nginx >/dev/null || die "nginx not found (apt-get install nginx-light)"; fi

# ---------------------------------------------------------------- processes

cleanup() {
  local name
  for name in "${!PID[@]}"; do stop "$name"; done
  if [ -z "${KEEP:-}" ] && [ -d "$BENCH_DIR" ]; then
    rm -rf "$BENCH_DIR"/data "$BENCH_DIR"/layers
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD...: run CMD in the background, logging to logs/NAME.log.
start() {
  local name=$1; shift
  "$@" >>"$BENCH_DIR/logs/$name.log" 2>&1 &
  PID[$name]=$!
}

# stop NAME: TERM the process we started under NAME and wait for it.
stop() {
  local name=$1 pid=${PID[$1]:-}
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "PID[$name]"
}

# wait_http URL: until it answers at all (any HTTP status), for 15 s.
wait_http() {
  for _ in $(seq 150); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  die "$1 did not come up (see $BENCH_DIR/logs)"
}

LG() { "$BENCH_DIR/bin/loadgen" "$@"; }

# ---------------------------------------------------------------- servers

# render NAME PORT DATA [UPSTREAM]: bench/NAME with its @VARS@ filled in,
# written to conf/NAME; prints that path.
render() {
  local out=$BENCH_DIR/conf/$1
  sed -e "s|@PORT@|$2|g" -e "s|@DATA@|$3|g" -e "s|@UPSTREAM@|${4:-}|g" \
    -e "s|@LOGS@|$BENCH_DIR/logs|g" -e "s|@LAYERS@|$BENCH_DIR/layers|g" "bench/$1" >"$out"
  echo "$out"
}

start_upstream() {
  local d=$BENCH_DIR/data/upstream
  mkdir -p "$d"
  start upstream docker-registry serve "$(render upstream.yml "$P_UP" "$d")"
  wait_http "http://127.0.0.1:$P_UP/v2/"
}

start_shaper() { # PEER
  local args=(-listen "127.0.0.1:${SHAPER_PORT[$1]}" -upstream "http://127.0.0.1:$P_UP")
  [ -z "${SHAPE_RTT:-}" ] || args+=(-rtt "$SHAPE_RTT")
  [ -z "${SHAPE_RATE:-}" ] || args+=(-rate "$SHAPE_RATE")
  start "shaper-$1" "$BENCH_DIR/bin/shaper" "${args[@]}"
  wait_http "http://127.0.0.1:${SHAPER_PORT[$1]}/_transfers"
}

# start_peer PEER: the server under test, on an empty data directory.
start_peer() {
  local p=$1 d=$BENCH_DIR/data/$1 conf
  mkdir -p "$d"
  case $p in nginx-*) mkdir -p "$d/tmp" "$d/cache" ;; esac
  case $p in
    regmirror)
      conf=$(render regmirror.yaml "${PEER_PORT[$p]}" "$d" "127.0.0.1:${SHAPER_PORT[$p]}")
      start "$p" "$REPO_ROOT/bin/regmirror" serve --config "$conf" ;;
    registry-proxy)
      conf=$(render registry-proxy.yml "${PEER_PORT[$p]}" "$d" "127.0.0.1:${SHAPER_PORT[$p]}")
      start "$p" docker-registry serve "$conf" ;;
    nginx-cache)
      conf=$(render nginx-cache.conf "${PEER_PORT[$p]}" "$d" "127.0.0.1:${SHAPER_PORT[$p]}")
      start "$p" nginx -p "$d" -c "$conf" ;;
    nginx-static)
      conf=$(render nginx-static.conf "${PEER_PORT[$p]}" "$d")
      start "$p" nginx -p "$d" -c "$conf" ;;
  esac
  if [ "$p" = nginx-static ]; then
    wait_http "$(url "$p")/blobs/"
  else
    wait_http "$(url "$p")/v2/"
  fi
}

# fresh PEER: restart the server under test with empty state (cold cache,
# new process so that its peak RSS starts from zero) and clear its counts.
fresh() {
  local peer=$1
  if [ "$peer" != direct ]; then
    stop "$peer"
    rm -rf "${BENCH_DIR:?}/data/$peer"
    start_peer "$peer"
  fi
  curl -fsS -X POST "http://127.0.0.1:${SHAPER_PORT[$peer]}/_reset"
}

url() { echo "http://127.0.0.1:${PEER_PORT[$1]}"; }

# ---------------------------------------------------------------- setup

setup() {
  LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
  rm -rf "$BENCH_DIR"
  mkdir -p "$BENCH_DIR"/{bin,conf,logs,data,layers}
  RES=$BENCH_DIR/results.jsonl
  : >"$RES"
  say "building regmirror, loadgen, shaper"
  go build -o bin/regmirror ./cmd/regmirror
  go build -o "$BENCH_DIR/bin/loadgen" ./test/tools/loadgen
  go build -o "$BENCH_DIR/bin/shaper" ./test/tools/shaper
  start_upstream
}

# push TAG SEED BIG SMALL SMALL_SIZE: the image, straight to the upstream;
# sets BIG_DIGEST.
push() {
  local out
  out=$(LG push -registry "http://127.0.0.1:$P_UP" -repo "$REPO" -tag "$1" -seed "$2" \
    -big "$3" -small "$4" -small-size "$5" -dir "$BENCH_DIR/layers" -w push -out "$RES")
  BIG_DIGEST=$(jq -r .big_digest <<<"$out")
}

# ---------------------------------------------------------------- CI mode

run_ci() {
  SHAPE_RTT=${RTT:-5ms}
  SHAPE_RATE=${RATE:-32Mbit} # 4 MiB takes about a second: streaming is visible
  setup
  local size=$((4 << 20)) rm
  rm=$(url regmirror)
  say "pushing two images of 4 MiB + 2 × 64 KiB"
  push ci1 ci-one "$size" 2 65536
  local big1=$BIG_DIGEST
  push ci2 ci-two "$size" 2 65536
  local big2=$BIG_DIGEST
  start_shaper regmirror
  fresh regmirror

  say "cold pull (shaped upstream: $SHAPE_RTT RTT, $SHAPE_RATE)"
  LG pull -registry "$rm" -repo "$REPO" -ref ci1 -peer regmirror -w cold -out "$RES" >/dev/null
  LG transfers -shaper "http://127.0.0.1:${SHAPER_PORT[regmirror]}" -digest "$big1" -reset -peer regmirror -w cold -out "$RES" >/dev/null

  say "warm pull"
  LG pull -registry "$rm" -repo "$REPO" -ref ci1 -peer regmirror -w warm -out "$RES" >/dev/null
  LG transfers -shaper "http://127.0.0.1:${SHAPER_PORT[regmirror]}" -reset -peer regmirror -w warm -out "$RES" >/dev/null

  say "cached blob by digest, 4 clients"
  LG blob -url "$rm/v2/$REPO/blobs/$big1" -n 4 -size "$size" -verify -peer regmirror -w digest -out "$RES" >/dev/null
  LG transfers -shaper "http://127.0.0.1:${SHAPER_PORT[regmirror]}" -reset -peer regmirror -w digest -out "$RES" >/dev/null

  say "manifest by tag, 8 connections for 1 s"
  LG manifest -url "$rm/v2/$REPO/manifests/ci1" -c 8 -d 1s -peer regmirror -w tag -out "$RES" >/dev/null
  LG transfers -shaper "http://127.0.0.1:${SHAPER_PORT[regmirror]}" -reset -peer regmirror -w tag -out "$RES" >/dev/null

  say "16 clients at once on a new blob"
  LG blob -url "$rm/v2/$REPO/blobs/$big2" -n 16 -size "$size" -verify -peer regmirror -w concurrent -out "$RES" >/dev/null
  LG transfers -shaper "http://127.0.0.1:${SHAPER_PORT[regmirror]}" -digest "$big2" -reset -peer regmirror -w concurrent -out "$RES" >/dev/null

  LG check -in "$RES"
}

# ---------------------------------------------------------------- full run

run_full() {
  if [ -n "${SHAPE:-}" ] && [ "${SHAPE}" != 0 ]; then
    SHAPE_RTT=${RTT:-20ms}
    SHAPE_RATE=${RATE:-400Mbit}
  fi
  local big=$((256 << 20)) big_label="256 MiB"
  if [ -n "${BIG:-}" ] && [ "$BIG" != 0 ]; then big=$((1 << 30)) big_label="1 GiB"; fi
  setup
  say "pushing $big_label + 10 × 1 MiB to the upstream"
  push latest bench "$big" 10 $((1 << 20))
  local bighex=${BIG_DIGEST#sha256:} p
  for p in direct regmirror registry-proxy nginx-cache; do start_shaper "$p"; done # cheap when idle
  start_peer nginx-static
  [ -f "$BENCH_DIR/layers/$bighex" ] || die "big layer file missing"

  local peers
  read -r -a peers <<<"${PEERS:-direct regmirror registry-proxy nginx-cache}"
  local at=() r
  # W1: one cold pull is noisy, so W1_ROUNDS of them per server, the servers
  # taking turns; the report keeps each server's median round.
  for r in $(seq "$W1_ROUNDS"); do
    for p in "${peers[@]}"; do
      say "W1 cold pull, round $r of $W1_ROUNDS: $p"
      fresh "$p"
      LG pull -registry "$(url "$p")" -repo "$REPO" -ref latest -peer "$p" -w W1 -round "$r" -out "$RES" >/dev/null
      LG transfers -shaper "http://127.0.0.1:${SHAPER_PORT[$p]}" -digest "$BIG_DIGEST" -reset -peer "$p" -w W1 -round "$r" -out "$RES" >/dev/null
    done
  done
  for p in "${peers[@]}"; do
    say "W2 warm pull: $p"
    LG pull -registry "$(url "$p")" -repo "$REPO" -ref latest -peer "$p" -w W2 -out "$RES" >/dev/null
    LG transfers -shaper "http://127.0.0.1:${SHAPER_PORT[$p]}" -reset -peer "$p" -w W2 -out "$RES" >/dev/null
    at+=(-at "$p=$(url "$p")/v2/$REPO/blobs/$BIG_DIGEST")
  done
  # Every peer holds the blob now. One GET at a time, the peers taking
  # turns round after round, so that a slow spell of the machine hits all.
  say "W2 one big GET, $REPEAT rounds over ${peers[*]} nginx-static"
  LG blob "${at[@]}" -at "nginx-static=$(url nginx-static)/blobs/$bighex" -n 1 -repeat "$REPEAT" -size "$big" -w W2 -out "$RES" >/dev/null

  for p in "${peers[@]}"; do
    say "W3 $CLIENTS clients on a new $big_label blob, then again warm: $p"
    fresh "$p"
    LG blob -url "$(url "$p")/v2/$REPO/blobs/$BIG_DIGEST" -n "$CLIENTS" -size "$big" -peer "$p" -w W3 -out "$RES" >/dev/null
    LG transfers -shaper "http://127.0.0.1:${SHAPER_PORT[$p]}" -digest "$BIG_DIGEST" -reset -peer "$p" -w W3 -out "$RES" >/dev/null
    LG blob -url "$(url "$p")/v2/$REPO/blobs/$BIG_DIGEST" -n "$CLIENTS" -size "$big" -peer "$p" -w W3warm -out "$RES" >/dev/null
    if [ "$p" != direct ]; then
      LG rss -pid "${PID[$p]}" -peer "$p" -w W3 -out "$RES" >/dev/null
    fi
  done

  at=()
  for p in "${peers[@]}"; do
    LG pull -registry "$(url "$p")" -repo "$REPO" -ref latest -peer "$p" -w W4warmup >/dev/null # caches the tag
    curl -fsS -X POST "http://127.0.0.1:${SHAPER_PORT[$p]}/_reset"
    at+=(-at "$p=$(url "$p")/v2/$REPO/manifests/latest")
  done
  # ${W4_SECONDS}s per peer in 5 slices, the peers taking turns.
  say "W4 manifest by tag, HEAD/GET, $CONNS connections, ${W4_SECONDS}s each: ${peers[*]}"
  LG manifest "${at[@]}" -c "$CONNS" -d "${W4_SECONDS}s" -rounds 5 -w W4 -out "$RES" >/dev/null
  for p in "${peers[@]}"; do
    LG transfers -shaper "http://127.0.0.1:${SHAPER_PORT[$p]}" -reset -peer "$p" -w W4 -out "$RES" >/dev/null
  done

  local shape_note="none (loopback)"
  [ -z "${SHAPE_RTT:-}" ] || shape_note="$SHAPE_RTT RTT, $SHAPE_RATE per transfer"
  echo
  echo "regmirror benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(go version | cut -d' ' -f3)," \
    "docker-registry $(docker-registry --version | awk '{print $3}'), $(nginx -v 2>&1 | cut -d' ' -f3)"
  echo "load average (1/5/15 min) before: $LOAD_START, after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "image: $big_label + 10 × 1 MiB layers (OCI index → manifest); shaping: $shape_note; W1: median of $W1_ROUNDS cold pulls; W3: $CLIENTS clients; W4: $CONNS connections × ${W4_SECONDS}s"
  echo
  LG report -in "$RES" -big "$big_label" -clients "$CLIENTS" -conns "$CONNS"
  say "results: $RES, logs: $BENCH_DIR/logs"
}

if [ "$MODE" = ci ]; then run_ci; else run_full; fi
