#!/usr/bin/env bash
# load.sh: regmirror under many concurrent clients, everything on loopback.
#
#   scripts/load.sh      1,000 connections mixing cached manifest and blob GETs
#                        for 30 s; fails on any error or when the mirror's peak
#                        RSS goes over MAX_RSS_MIB
#
# Environment:
#   CONNS=1000  DURATION=30s  BLOB_SHARE=0.5   the mix (see test/tools/loadmix)
#   MAX_RSS_MIB=512     the memory bound checked on the mirror process
#   LIMITS=1            also turn on per-client limits (high enough not to refuse:
#                       measures their cost, not their effect)
#   LOAD_DIR=/tmp/regmirror-load   scratch (wiped at start)
#   BASE_PORT=5950      upstream on BASE, mirror on BASE+1 (127.0.0.1)
#
# Layout: loadmix ── regmirror :+1 ── docker-registry :+0 (the upstream)
# The image (an index of one platform: a 4 MiB layer, ten 256 KiB layers)
# is pushed with test/tools/loadgen and pulled once through the mirror, so
# the load measures cache hits only.
# Needs: go, docker-registry, curl (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-1000}
DURATION=${DURATION:-30s}
BLOB_SHARE=${BLOB_SHARE:-0.5}
MAX_RSS_MIB=${MAX_RSS_MIB:-512}
LOAD_DIR=${LOAD_DIR:-/tmp/regmirror-load}
BASE_PORT=${BASE_PORT:-5950}
P_UP=$BASE_PORT
P_MIRROR=$((BASE_PORT + 1))

for c in go docker-registry curl; do
  command -v "$c" >/dev/null || { echo "load.sh: $c is required (scripts/install-deps.sh)" >&2; exit 2; }
done
# One descriptor per connection on both ends, and some to spare.
ulimit -n "$(( CONNS * 2 + 1024 ))" 2>/dev/null || ulimit -n "$(ulimit -Hn)"

rm -rf "$LOAD_DIR"
mkdir -p "$LOAD_DIR/upstream" "$LOAD_DIR/data"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

wait_http() { # URL
  for _ in $(seq 150); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "load.sh: $1 did not come up" >&2
  return 1
}

echo "== building"
go build -o "$LOAD_DIR/regmirror" ./cmd/regmirror
go build -o "$LOAD_DIR/loadgen" ./test/tools/loadgen
go build -o "$LOAD_DIR/loadmix" ./test/tools/loadmix

echo "== upstream (docker-registry) on :$P_UP"
cat >"$LOAD_DIR/upstream.yml" <<YAML
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $LOAD_DIR/upstream}}
http: {addr: 127.0.0.1:$P_UP}
YAML
docker-registry serve "$LOAD_DIR/upstream.yml" >"$LOAD_DIR/upstream.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$P_UP/v2/"
"$LOAD_DIR/loadgen" push -registry "http://127.0.0.1:$P_UP" -repo library/load -tag latest \
  -big $((4 << 20)) -small 10 -small-size $((256 << 10)) -seed regmirror-load >/dev/null

echo "== regmirror on :$P_MIRROR"
LIMITS_YAML=""
if [ "${LIMITS:-0}" = 1 ]; then
  LIMITS_YAML="limits: {requestsPerSecond: 100000, burst: 100000, clientBandwidth: 100GiB}"
fi
cat >"$LOAD_DIR/regmirror.yaml" <<YAML
listen: 127.0.0.1:$P_MIRROR
storage: {path: $LOAD_DIR/data}
admin: {listen: "off"}
log: {level: warn}
cache: {tagTTL: 1h}
upstreams:
  - name: docker.io
    endpoint: http://127.0.0.1:$P_UP
$LIMITS_YAML
YAML
"$LOAD_DIR/regmirror" serve -c "$LOAD_DIR/regmirror.yaml" >"$LOAD_DIR/regmirror.log" 2>&1 &
MIRROR_PID=$!
PIDS+=("$MIRROR_PID")
wait_http "http://127.0.0.1:$P_MIRROR/healthz"

echo "== warming the cache"
"$LOAD_DIR/loadgen" pull -registry "http://127.0.0.1:$P_MIRROR" -repo library/load -ref latest >/dev/null

echo "== load: $CONNS connections, $DURATION, blob share $BLOB_SHARE"
"$LOAD_DIR/loadmix" -registry "http://127.0.0.1:$P_MIRROR" -repo library/load -ref latest \
  -c "$CONNS" -d "$DURATION" -blob-share "$BLOB_SHARE" -max-blob $((8 << 20)) \
  -pid "$MIRROR_PID" -max-rss-mib "$MAX_RSS_MIB" -json "$LOAD_DIR/result.json"
echo "== ok (result: $LOAD_DIR/result.json)"
