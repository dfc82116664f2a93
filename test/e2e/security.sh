#!/usr/bin/env bash
# security.sh: the protections of docs/security.md, with real clients
# against bin/regmirror and a real upstream (Debian's docker-registry on
# loopback, behind a reqproxy that logs what the mirrors ask it). Four
# mirrors of that upstream, one per protection:
#
#   mirror1  access.deny docker.io/library/hello-world, denyMessage: docker
#            pull (explicit, mirror-host and registry-mirrors forms) fails
#            and shows the message, the upstream is never asked for the
#            name; busybox still pulls
#   mirror2  auth.htpasswd (bcrypt): an anonymous docker pull is refused,
#            docker login with a wrong password fails, with the right one
#            the pull works and has the upstream's digest
#   mirror3  limits 1 request/s, burst 2: skopeo is answered 429 and waits,
#            a burst of crane clients gets TOOMANYREQUESTS even after
#            crane's retries, an idle client has its burst back
#   mirror4  limits.clientBandwidth 1MiB: a cached 4 MiB blob takes at
#            least 2.5 s and arrives intact; the unlimited mirror1 serves
#            the same blob in less
#
# The real registries' names are pinned to 127.0.0.1 (scripts/install-deps.sh)
# because dockerd falls back to registry-1.docker.io when a mirror fails.
# Prints "N passed, N failed"; exit status 1 if any check failed.
set -uo pipefail
E2E_PORT_BASE=${E2E_PORT_BASE:-5720}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

grep -q '^127\.0\.0\.1.*registry-1\.docker\.io' /etc/hosts || fail_setup "registry-1.docker.io not pinned in /etc/hosts (run scripts/install-deps.sh)"
command -v htpasswd >/dev/null || fail_setup "htpasswd missing (apt-get install apache2-utils)"
if [ -z "${REGMIRROR_BIN:-}" ] && [ -z "${MIRROR_STANDIN:-}" ]; then
  build_mirror || fail_setup "go build bin/regmirror"
  export REGMIRROR_BIN=$E2E_ROOT/bin/regmirror # once, not per mirror
fi

alloc_port; UP_BACK=127.0.0.1:$PORT
alloc_port; UP=127.0.0.1:$PORT # reqproxy: $H/up.requests lists what the mirrors asked
alloc_port; MIRROR1=127.0.0.1:$PORT
alloc_port; MIRROR2=127.0.0.1:$PORT
alloc_port; MIRROR3=127.0.0.1:$PORT
alloc_port; MIRROR4=127.0.0.1:$PORT

start_registry upstream "$UP_BACK" || fail_setup "upstream registry"
start_reqproxy up "$UP" "http://$UP_BACK" || fail_setup "upstream reqproxy"
if ! { D_HELLO=$(seed_image "$UP_BACK" library/hello-world:latest docker) &&
  D_BUSYBOX=$(seed_image "$UP_BACK" library/busybox:latest docker) &&
  D_ALPINE=$(seed_image "$UP_BACK" library/alpine:latest docker); }; then
  fail_setup "seeding the upstream"
fi

# A ~4 MiB layer of random (incompressible) bytes for the bandwidth limit.
mkdir -p "$H/big"
head -c $((4 << 20)) /dev/urandom >"$H/big/data.bin"
tar -C "$H/big" -cf "$H/big.tar" data.bin
crane append --insecure -f "$H/big.tar" -t "$UP_BACK/library/big:latest" >/dev/null 2>"$H/big.log" ||
  { cat "$H/big.log" >&2; fail_setup "pushing the big layer"; }
read -r BIG BIG_SIZE < <(crane manifest --insecure "$UP_BACK/library/big:latest" | jq -r '.layers[-1] | "\(.digest) \(.size)"')
[ "${BIG_SIZE:-0}" -ge $((4 << 20)) ] || fail_setup "big layer is ${BIG_SIZE:-?} bytes, want >= 4 MiB"
log "seeded hello-world $D_HELLO, busybox $D_BUSYBOX, alpine $D_ALPINE, big layer $BIG ($BIG_SIZE bytes)"

# mirror NAME LISTEN [EXTRA_YAML]: a mirror of the upstream (as docker.io)
# with its own storage, plus EXTRA_YAML at top level.
mirror() {
  cat >"$H/$1.yml" <<EOF
listen: "$2"
storage: {path: $H/$1-data}
cache: {tagTTL: 10m, negativeTTL: 1m}
admin: {listen: "off"}
log: {level: debug}
upstreams:
  - name: docker.io
    endpoint: http://$UP
    aliases: [index.docker.io, registry-1.docker.io]
${3:-}
EOF
  start_mirror "$H/$1.yml" "$1"
}
htpasswd -Bbn e2e pw >"$H/htpasswd" || fail_setup "htpasswd"
mirror mirror1 "$MIRROR1" 'access: {deny: ["docker.io/library/hello-world"], denyMessage: "denied by e2e"}' || fail_setup "mirror1 (deny)"
mirror mirror2 "$MIRROR2" "auth: {htpasswd: $H/htpasswd}" || fail_setup "mirror2 (auth)"
mirror mirror3 "$MIRROR3" 'limits: {requestsPerSecond: 1, burst: 2}' || fail_setup "mirror3 (rate)"
mirror mirror4 "$MIRROR4" 'limits: {clientBandwidth: 1MiB}' || fail_setup "mirror4 (bandwidth)"
start_dockerd dockerd "http://$MIRROR1" "$MIRROR1" "$MIRROR2" || fail_setup "dockerd did not start"
D=$DOCKER_CLI

# pulled IMAGE DIGEST: docker pull IMAGE, then its RepoDigests contain DIGEST.
pulled() {
  timeout 120 "$D" pull -q "$1" || return 1
  "$D" image inspect -f '{{join .RepoDigests " "}}' "$1" | tee /dev/stderr | grep -q "@$2"
}
# pull_fails IMAGE REGEX: docker pull IMAGE fails and its output matches REGEX.
pull_fails() {
  local out
  if out=$(timeout 120 "$D" pull "$1" 2>&1); then
    printf '%s\npull succeeded\n' "$out"
    return 1
  fi
  printf '%s\n' "$out"
  grep -qiE "$2" <<<"$out"
}

# --- 1. Deny list -----------------------------------------------------------
# The explicit and mirror-host forms make MIRROR1 the registry itself, so
# dockerd reports the mirror's error. Through registry-mirrors, dockerd logs
# the mirror's error and falls back to registry-1.docker.io, which is pinned
# to a closed loopback port, so the pull fails without leaving the machine.
check "deny: docker pull $MIRROR1/docker.io/library/hello-world fails with the denyMessage" \
  pull_fails "$MIRROR1/docker.io/library/hello-world:latest" 'denied by e2e'
check "deny: docker pull $MIRROR1/library/hello-world (implicit) fails with the denyMessage" \
  pull_fails "$MIRROR1/library/hello-world:latest" 'denied by e2e'
mirrors_form_denied() { # only dockerd's log lines of this pull count
  local n
  n=$(wc -l <"$H/dockerd.log")
  pull_fails hello-world:latest . || return 1
  tail -n +"$((n + 1))" "$H/dockerd.log" | grep 'Attempting next endpoint.*denied by e2e'
}
check "deny: docker pull hello-world (registry-mirrors) fails; dockerd got the denyMessage" mirrors_form_denied
check "deny: docker pull busybox (registry-mirrors, not denied) = upstream digest" pulled busybox:latest "$D_BUSYBOX"
never_asked() {
  grep -c '/library/busybox/' "$H/up.requests" || return 1 # the log works
  ! grep '/library/hello-world/' "$H/up.requests"
}
check "deny: the upstream was never asked for library/hello-world" never_asked

# --- 2. Mirror authentication -------------------------------------------
# The docker CLI keeps its login in DOCKER_CONFIG, which lib.sh points at
# the scratch directory.
check "auth: anonymous docker pull $MIRROR2/library/alpine is refused" \
  pull_fails "$MIRROR2/library/alpine:latest" 'unauthorized|no basic auth credentials'
check "auth: docker login $MIRROR2 with a wrong password fails" \
  bash -c "! '$D' login '$MIRROR2' -u e2e --password-stdin <<<wrong"
logged_in() {
  "$D" login "$MIRROR2" -u e2e --password-stdin <<<pw || return 1
  jq -e --arg h "$MIRROR2" '.auths[$h].auth' "$DOCKER_CONFIG/config.json" >/dev/null
}
check "auth: docker login $MIRROR2 -u e2e succeeds" logged_in
check "auth: docker pull $MIRROR2/library/alpine after login = upstream digest" \
  pulled "$MIRROR2/library/alpine:latest" "$D_ALPINE"

# --- 3. Request rate ----------------------------------------------------
# skopeo and crane both retry a 429 (skopeo after Retry-After, crane after
# 1 s and 3 s), so a client refused once still succeeds if the rate lets
# it. skopeo --debug shows each 429 it waited out; crane fails only when a
# burst leaves too few requests for its retries: eight crane digest at once
# need 16 requests (ping + manifest each), and within crane's retry window
# of under 10 s the bucket yields at most 2 + 10.
skopeo_raw() { # N: skopeo inspect --raw of busybox on mirror3, digest checked
  skopeo --debug inspect --raw --tls-verify=false "docker://$MIRROR3/library/busybox:latest" \
    >"$H/rate-$1.out" 2>"$H/rate-$1.err" || { tail -n 3 "$H/rate-$1.err"; return 1; }
  [ "sha256:$(sha256sum <"$H/rate-$1.out" | cut -d' ' -f1)" = "$D_BUSYBOX" ]
}
waits_out_429() {
  local i
  for i in 1 2 3 4; do skopeo_raw "$i" || return 1; done
  grep -h 'Too many requests' "$H"/rate-[1-4].err
}
check "rate: 4 skopeo inspect back to back all succeed, answered 429 and waiting on the way" waits_out_429
burst_refused() {
  local i pids=() ok=0 refused=0
  for i in $(seq 1 8); do
    crane digest --insecure "$MIRROR3/library/busybox:latest" >"$H/burst-$i.log" 2>&1 &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i"; done
  for i in $(seq 1 8); do
    if [ "$(tail -n 1 "$H/burst-$i.log")" = "$D_BUSYBOX" ]; then
      ok=$((ok + 1))
    elif tail -n 1 "$H/burst-$i.log" | grep -E '^Error: .*(TOOMANYREQUESTS|429|too many requests)'; then
      refused=$((refused + 1))
    else
      tail -n 3 "$H/burst-$i.log"
    fi
  done
  echo "$ok got the digest, $refused refused"
  [ "$refused" -ge 1 ] && [ $((ok + refused)) -eq 8 ]
}
check "rate: 8 crane digest at once: some fail with TOOMANYREQUESTS, the rest get the digest" burst_refused
sleep 3 # the bucket refills to its burst of 2
idle_again() {
  skopeo_raw 5 || return 1
  ! grep 'Too many requests' "$H/rate-5.err"
}
check "rate: after 3 s idle, skopeo inspect succeeds without a 429" idle_again

# --- 4. Bandwidth ---------------------------------------------------------
# fetch_blob MIRROR N: crane blob of the big layer into $H/blob-N, checks its
# sha256; sets ELAPSED_MS.
fetch_blob() {
  local t0 got
  t0=$(date +%s%N)
  crane blob --insecure "$1/library/big@$BIG" >"$H/blob-$2" || return 1
  ELAPSED_MS=$((($(date +%s%N) - t0) / 1000000))
  got=sha256:$(sha256sum <"$H/blob-$2" | cut -d' ' -f1)
  echo "$(stat -c %s "$H/blob-$2") bytes in ${ELAPSED_MS} ms, $got"
  [ "$got" = "$BIG" ]
}
check "bandwidth: crane blob through mirror4 (cold) = digest" fetch_blob "$MIRROR4" cold
# The client has its last byte once the digest is verified; the commit
# (fsync, rename) follows within moments, so look a few times.
cached() {
  local i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    curl -sI --max-time 30 "http://$MIRROR4/v2/library/big/blobs/$BIG" | tr -d '\r' | tee /dev/stderr |
      grep -qix 'x-mirror-cache: hit' && return 0
    sleep 0.5
  done
  return 1
}
check "bandwidth: the blob is now in mirror4's cache" cached
# The limiter's defining property, not a performance target: a client's
# byte bucket refills at clientBandwidth (1 MiB/s) and holds one second's
# worth, so N bytes cannot arrive in less than (N - 1 MiB) / (1 MiB/s),
# about 3 s for this layer. A slower machine only makes it take longer.
paced() {
  fetch_blob "$MIRROR4" cached || return 1
  [ "$ELAPSED_MS" -ge 2500 ]
}
check "bandwidth: the cached ~4 MiB blob at 1 MiB/s takes >= 2.5 s, sha256 = digest" paced
# Control: without a limit the same bytes come much faster, so the time
# above is the limiter's (4 MiB on loopback takes milliseconds).
unpaced() {
  fetch_blob "$MIRROR1" control || return 1
  [ "$ELAPSED_MS" -lt 2500 ]
}
check "bandwidth: control: the unlimited mirror1 serves it in < 2.5 s" unpaced

summary
