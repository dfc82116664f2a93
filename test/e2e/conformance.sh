#!/usr/bin/env bash
# conformance.sh: the OCI distribution-spec conformance suite against
# regmirror in "split" mode. A mirror is read-only, so the suite's writes
# (and upload sessions) go straight to the upstream while every read goes
# through the mirror:
#
#   conformance -> reqproxy -write-upstream --R--> regmirror -> docker-registry
#                                            \--W------------------^
#
# The suite pushes its own fixtures upstream and then checks every pulled
# byte, header and error through the mirror, so the mirror must revalidate
# tags at once: tagTTL 0s and negativeTTL 0s (the suite GETs names before it
# pushes them and re-tags "image" and "index" during the run).
#
# Settings and why:
#   OCI_VERSION=1.0             distribution 2.8 has no referrers API (1.1)
#   OCI_DATA_SHA512=false       2.8 cannot store sha512 content
#   OCI_DATA_NONDISTRIBUTABLE=false  2.8 refuses foreign layers by default
#   OCI_API_*_DELETE=false      a cache cannot honour deletes
#   OCI_API_TAGS_LIST=false     2.8's tags/list?last=X includes X (an upstream
#                               bug; the spec says "after X"), which a mirror
#                               passing pagination through must reproduce.
#                               CONFORMANCE_TAGS_LIST=true runs those tests.
#
# The suite's own verdict, the "OCI Conformance Result:" line, is printed
# with its counts, but it cannot say Pass with this upstream: three write-path
# tests fail on distribution 2.8 itself (listed in KNOWN_UPSTREAM_FAILURES
# below). So the checks are: every pull and content-discovery API passes,
# and no test fails except those three (CONFORMANCE_STRICT=1 also demands the
# overall Pass). Prints "N passed, N failed".
#
# With distribution v3 (`registry`, installed by scripts/install-deps.sh) as
# the upstream, none of those upstream bugs apply, so that is the default
# when it is installed: tag listing on, and the suite's own verdict must be
# Pass. REGISTRY_BIN=docker-registry forces the 2.8 run described above.
set -uo pipefail
E2E_PORT_BASE=${E2E_PORT_BASE:-5630}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
if [ -z "${REGISTRY_BIN:-}" ] && command -v registry >/dev/null 2>&1; then
  REGISTRY_BIN=registry
  CONFORMANCE_TAGS_LIST=${CONFORMANCE_TAGS_LIST:-true}
  CONFORMANCE_STRICT=${CONFORMANCE_STRICT:-1}
fi
log "upstream registry: ${REGISTRY_BIN:-docker-registry}"

alloc_port; MIRROR=127.0.0.1:$PORT
alloc_port; UP=127.0.0.1:$PORT
alloc_port; SPLIT=127.0.0.1:$PORT

start_registry up "$UP" || fail_setup "upstream registry"
write_mirror_config "$H/mirror.yml" "$MIRROR" 0s 0s "conformance.test=http://$UP"
start_mirror "$H/mirror.yml" || fail_setup "mirror did not start"
start_reqproxy split "$SPLIT" "http://$MIRROR" -write-upstream "http://$UP" || fail_setup "split proxy"

OUT=$H/conformance
mkdir -p "$OUT"
log "running the conformance suite against $SPLIT (reads -> $MIRROR, writes -> $UP)"
(
  cd "$OUT" &&
    env OCI_REGISTRY="$SPLIT" OCI_TLS=disabled \
      OCI_REPO1=conformance/repo1 OCI_REPO2=conformance/repo2 \
      OCI_VERSION=1.0 OCI_DATA_SHA512=false OCI_DATA_NONDISTRIBUTABLE=false \
      OCI_API_BLOBS_DELETE=false OCI_API_MANIFESTS_DELETE=false OCI_API_TAGS_DELETE=false \
      OCI_API_TAGS_LIST="${CONFORMANCE_TAGS_LIST:-false}" \
      OCI_RESULTS_DIR="$OUT/results" \
      timeout 600 conformance >"$OUT/stdout.txt" 2>"$OUT/stderr.txt"
)
log "suite exit status $?"

# The report: the result line with its counts, and the per-API table.
sed -n '/^OCI Conformance Result/,/^$/p' "$OUT/stdout.txt" | sed 's/^/  /'
sed -n '/^API conformance/,/^$/p' "$OUT/stdout.txt" | grep -v 'Disabled$' | sed 's/^/  /'

# api_results: "NAME=RESULT" for each row of the suite's API table.
api_results() {
  awk '/^API conformance:/ {f = 1; next} /^$/ {f = 0}
       f { line = $0; sub(/^ +/, "", line); n = split(line, a, /\.*: +/); if (n == 2) print a[1] "=" a[2] }' "$OUT/stdout.txt"
}
# failed_tests: names of failed tests, without the "OCI Conformance Test/" prefix.
failed_tests() {
  sed -n 's/.*msg="failed test" name="OCI Conformance Test\/\([^"]*\)".*/\1/p' "$OUT/stderr.txt"
}

# Pull and content discovery: the APIs a mirror serves. Tag listing may be
# disabled (see above); referrers are not in spec 1.0.
pull_apis_pass() {
  local api want res bad=0
  for api in "Ping" "Blob get" "Blob get range" "Blob head" "Manifest get by digest" \
    "Manifest get by tag" "Manifest head by digest" "Manifest head by tag" "Tag listing"; do
    res=$(api_results | sed -n "s/^$api=//p")
    want=Pass
    [ "$api" = "Tag listing" ] && [ "${CONFORMANCE_TAGS_LIST:-false}" = false ] && want=Disabled
    echo "$api: ${res:-missing} (want $want)"
    [ "$res" = "$want" ] || bad=1
  done
  return $bad
}
check "pull and content-discovery APIs pass through the mirror" pull_apis_pass

# Failures the upstream causes on the write path, which the split proxy sends
# straight to distribution 2.8 (the mirror never sees these requests):
#   - PATCH with out-of-order chunks is accepted (202) instead of 416
#   - PUT of a manifest under the digest "sha256:baddigeststring" answers 500, not 400
KNOWN_UPSTREAM_FAILURES='sha256 blobs/chunked out-of-order/blob-patch-chunked
sha256 blobs/chunked out-of-order and put chunk/blob-patch-chunked
invalid-digest-format/manifest-put'
only_known_failures() {
  local unexpected
  unexpected=$(failed_tests | grep -vxF "$KNOWN_UPSTREAM_FAILURES")
  failed_tests | grep -xF "$KNOWN_UPSTREAM_FAILURES" | sed 's/^/known upstream 2.8 bug: /'
  [ -z "$unexpected" ] || { echo "unexpected failures:"; echo "$unexpected"; return 1; }
}
check "suite: no failure besides known distribution-2.8 write-path bugs" only_known_failures
if [ -n "${CONFORMANCE_STRICT:-}" ]; then
  check "suite result line says Pass" grep -q '^OCI Conformance Result: Pass' "$OUT/stdout.txt"
fi
reads_through_mirror() { # most reads went R (to the mirror), and got answers
  local r w
  r=$(grep -c '^[^ ]* R ' "$H/split.requests")
  w=$(grep -c '^[^ ]* W ' "$H/split.requests")
  echo "reads via mirror: $r, writes to upstream: $w"
  [ "$r" -ge 50 ] && [ "$w" -ge 10 ]
}
check "reads went through the mirror, writes to the upstream" reads_through_mirror

if [ -n "${CONFORMANCE_KEEP:-}" ]; then
  mkdir -p "$CONFORMANCE_KEEP" && cp -r "$OUT"/. "$CONFORMANCE_KEEP"/ && log "results copied to $CONFORMANCE_KEEP"
fi
summary
