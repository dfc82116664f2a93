# lib.sh: helpers for regmirror's end-to-end scripts. Source it first thing:
#
#   . "$(dirname "$0")/lib.sh"
#
# It creates a scratch directory $H (removed at exit), puts bin/ and the Go
# tool directory first on PATH, and installs an EXIT trap that stops every
# daemon started through it, by PID, newest first, even when the script
# fails. Everything listens on 127.0.0.1 only.
#
#   check NAME CMD...        run CMD; count and print a pass or a fail
#   summary                  print "N passed, N failed"; status 1 if any failed
#   alloc_port               PORT=a free loopback port (from $E2E_PORT_BASE up)
#   start_registry NAME ADDR [EXTRA_YAML]         distribution v2 (Debian docker-registry)
#   start_token_registry NAME FRONT BACK [FLAGS]  registry on BACK behind tokenserver on FRONT
#   start_reqproxy NAME ADDR UPSTREAM_URL [FLAGS] counting/fault proxy (test/tools/reqproxy)
#   start_mirror CONFIG [NAME]  bin/regmirror serve (or a stand-in with MIRROR_STANDIN=1)
#   start_dockerd NAME MIRROR_URL [INSECURE...]   own roots under $H; sets DOCKER_HOST
#   start_containerd NAME    standalone containerd; socket $H/NAME/containerd.sock
#   write_hosts_toml DIR NS HOST_URL [CAPS] [SERVER]
#   seed_image REG REPO:TAG [docker|oci] [LABEL]  push a runnable 2-arch image, print its digest
#   stop NAME / stop_all     TERM, wait, KILL
#
# Env: KEEP_SCRATCH=1 keeps $H; E2E_VERBOSE=1 (or CI=true) prints the tail of
# every daemon log when a check failed; MIRROR_STANDIN=1 uses distribution in
# proxy mode (one upstream, no routing) instead of regmirror, to test the
# harness itself.

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
E2E_NAME=$(basename "$0" .sh)
E2E_GOBIN="$(go env GOPATH | cut -d: -f1)/bin"
export PATH="$E2E_ROOT/bin:$E2E_GOBIN:$PATH"
H=$(mktemp -d "/tmp/regmirror-e2e-$E2E_NAME.XXXXXX")
export DOCKER_CONFIG=$H/client-config # crane credentials stay in $H
mkdir -p "$DOCKER_CONFIG"
# Never export REGISTRY_*: distribution reads REGISTRY_<SECTION>_<KEY> from
# the environment as configuration overrides.
DOCKER_CLI=$(command -v /usr/bin/docker || command -v docker || true)

E2E_PASS=0
E2E_FAIL=0
_E2E_DAEMONS=()
_E2E_NEXT_PORT=${E2E_PORT_BASE:-5600}
_E2E_CHECK_N=0

log() { printf '[%s %s] %s\n' "$E2E_NAME" "$(date +%T)" "$*" >&2; }

# check NAME CMD...: runs CMD with its output in $H/checks/N.log; prints
# "ok - NAME" or "FAIL - NAME" plus the output's last lines.
check() {
  local name=$1 out
  shift
  _E2E_CHECK_N=$((_E2E_CHECK_N + 1))
  mkdir -p "$H/checks"
  out=$H/checks/$_E2E_CHECK_N.log
  if "$@" >"$out" 2>&1; then
    E2E_PASS=$((E2E_PASS + 1))
    printf 'ok   - %s\n' "$name"
  else
    E2E_FAIL=$((E2E_FAIL + 1))
    printf 'FAIL - %s\n' "$name"
    tail -n 8 "$out" | sed 's/^/       | /'
  fi
}

# summary: the line scripts/test.sh adds up. Returns 1 if any check failed.
summary() {
  echo "$E2E_PASS passed, $E2E_FAIL failed"
  [ "$E2E_FAIL" -eq 0 ]
}

# fail_setup MSG: a setup step failed; count it, print the summary, exit.
fail_setup() {
  log "setup failed: $*"
  E2E_FAIL=$((E2E_FAIL + 1))
  printf 'FAIL - setup: %s\n' "$*"
  summary
  exit 1
}

_port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# alloc_port: sets PORT to the next port from $E2E_PORT_BASE up that
# nothing listens on. It keeps state, so call it in the main shell, not in
# $(...):  alloc_port; MIRROR=127.0.0.1:$PORT
alloc_port() {
  while _port_busy "$_E2E_NEXT_PORT"; do _E2E_NEXT_PORT=$((_E2E_NEXT_PORT + 1)); done
  PORT=$_E2E_NEXT_PORT
  _E2E_NEXT_PORT=$((_E2E_NEXT_PORT + 1))
}

# wait_http URL [SECONDS]: until URL answers anything at all.
wait_http() {
  local url=$1 n=$((${2:-10} * 10))
  while [ "$n" -gt 0 ]; do
    curl -s -o /dev/null --max-time 1 "$url" && return 0
    sleep 0.1
    n=$((n - 1))
  done
  log "timed out waiting for $url"
  return 1
}

# bg NAME CMD...: start CMD in the background; output in $H/NAME.log.
bg() {
  local name=$1
  shift
  "$@" >"$H/$name.log" 2>&1 &
  echo $! >"$H/$name.pid"
  _E2E_DAEMONS+=("$name")
}

# stop NAME: TERM, up to 20 s grace, then KILL. Only the recorded PID.
stop() {
  local f=$H/$1.pid pid i
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 200); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "KILL $1 ($pid)"
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  wait "$pid" 2>/dev/null
  rm -f "$f"
}

stop_all() {
  local i
  for ((i = ${#_E2E_DAEMONS[@]} - 1; i >= 0; i--)); do stop "${_E2E_DAEMONS[$i]}"; done
  _E2E_DAEMONS=()
}

_e2e_cleanup() {
  local rc=$? f m
  if [ "$E2E_FAIL" -gt 0 ] && { [ "${CI:-}" = true ] || [ -n "${E2E_VERBOSE:-}" ]; }; then
    for f in "$H"/*.log; do
      [ -f "$f" ] || continue
      printf -- '--- %s (last 30 lines)\n' "${f#"$H"/}" >&2
      tail -n 30 "$f" >&2
    done
  fi
  stop_all
  # Anything a daemon left mounted under $H (overlay snapshots) must go
  # before rm -rf walks into it.
  awk -v h="$H" 'index($2, h) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null
  done
  if [ -n "${KEEP_SCRATCH:-}" ]; then
    log "scratch kept in $H"
  else
    rm -rf "$H"
  fi
  exit "$rc"
}
trap _e2e_cleanup EXIT
trap 'exit 130' INT TERM

# start_registry NAME ADDR [EXTRA_YAML]: distribution (Debian's
# docker-registry 2.8) with filesystem storage in $H/NAME.data. EXTRA_YAML
# is appended at top level (an auth: or proxy: block).
start_registry() {
  local name=$1 addr=$2 extra=${3:-}
  mkdir -p "$H/$name.data"
  cat >"$H/$name.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $H/$name.data
  delete:
    enabled: true
http:
  addr: $addr
$extra
EOF
  OTEL_TRACES_EXPORTER=none bg "$name" "${REGISTRY_BIN:-docker-registry}" serve "$H/$name.yml"
  wait_http "http://$addr/v2/"
}

# start_token_registry NAME FRONT BACK [TOKENSERVER_FLAGS...]: a
# Docker-Hub-like upstream. tokenserver on FRONT answers /token and proxies
# everything else to a registry on BACK that wants its tokens. The realm is
# http://$TOKEN_REALM/token (default FRONT); point TOKEN_REALM at a reqproxy
# in front of FRONT to have token requests counted there, and then talk to
# the registry only through that reqproxy (clients want realm and registry
# on the same host:port). Seed with: crane auth login ADDR -u seed -p seedpw
# after passing "-users seed:seedpw".
start_token_registry() {
  local name=$1 front=$2 back=$3
  shift 3
  bg "$name-token" tokenserver -listen "$front" -cert "$H/$name-token.crt" \
    -issuer e2e-issuer -registry "http://$back" "$@"
  local i
  for i in $(seq 1 50); do
    [ -s "$H/$name-token.crt" ] && break
    sleep 0.1
  done
  start_registry "$name" "$back" "auth:
  token:
    realm: http://${TOKEN_REALM:-$front}/token
    service: $name
    issuer: e2e-issuer
    rootcertbundle: $H/$name-token.crt" || return 1
  wait_http "http://$front/v2/"
}

# start_reqproxy NAME ADDR UPSTREAM_URL [FLAGS...]: requests logged to
# $H/NAME.requests; counts at http://ADDR/_counts.
start_reqproxy() {
  local name=$1 addr=$2 up=$3
  shift 3
  bg "$name" reqproxy -listen "$addr" -upstream "$up" -log "$H/$name.requests" "$@"
  wait_http "http://$addr/_counts"
}

# Counting and faults on a reqproxy at ADDR.
reset_counts() { curl -fsS -X POST "http://$1/_reset"; }
set_fault() { curl -fsS -X POST --data "$2" "http://$1/_fault"; }
# count ADDR JQ_FILTER: e.g. count $RP '.requests["GET blobs"]'; absent = 0
count() { curl -fsS "http://$1/_counts" | jq -r "($2) // 0"; }
# blob_gets ADDR DIGEST: GET requests for that blob seen at ADDR
blob_gets() { count "$1" ".blobs[\"$2\"].GET"; }

# write_mirror_config FILE LISTEN TAGTTL NEGTTL UPSTREAM...: each UPSTREAM is
# NAME=ENDPOINT_URL[=ALIAS,ALIAS]; list order is the implicit search order.
# Data goes to $H/mirror-data.
write_mirror_config() {
  local file=$1 listen=$2 tagttl=$3 negttl=$4 u name rest endpoint aliases
  shift 4
  {
    echo "listen: \"$listen\""
    echo "storage: {path: $H/mirror-data}"
    echo "cache: {tagTTL: $tagttl, negativeTTL: $negttl}"
    echo 'admin: {listen: "off"}'
    echo 'log: {level: debug}'
    echo "upstreams:"
    for u in "$@"; do
      name=${u%%=*}
      rest=${u#*=}
      endpoint=${rest%%=*}
      aliases=""
      [ "$rest" != "$endpoint" ] && aliases=${rest#*=}
      echo "  - name: $name"
      echo "    endpoint: $endpoint"
      [ -n "$aliases" ] && echo "    aliases: [${aliases//,/, }]"
    done
  } >"$file"
}

# build_mirror: bin/regmirror from the working tree (incremental, quick).
build_mirror() {
  (cd "$E2E_ROOT" && go build -o bin/regmirror ./cmd/regmirror)
}

# start_mirror CONFIG [NAME]: runs `regmirror serve --config CONFIG` as
# daemon NAME (default "mirror"; give each of several mirrors its own NAME
# and storage path) and waits for /v2/. With MIRROR_STANDIN=1 it runs
# distribution in proxy mode for the first upstream of CONFIG instead (no
# routing, no X-Mirror-Upstream), which is only good for testing the harness.
start_mirror() {
  local cfg=$1 name=${2:-mirror} listen
  listen=$(sed -n 's/^listen: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$cfg")
  if [ -n "${MIRROR_STANDIN:-}" ]; then
    local up
    up=$(sed -n 's/^ *endpoint: *//p' "$cfg" | head -1)
    log "stand-in mirror: distribution proxy for $up"
    start_registry "$name" "$listen" "proxy:
  remoteurl: $up"
    return
  fi
  if [ -z "${REGMIRROR_BIN:-}" ]; then
    build_mirror || return 1
  fi
  bg "$name" "${REGMIRROR_BIN:-$E2E_ROOT/bin/regmirror}" serve --config "$cfg"
  wait_http "http://$listen/v2/" 15 || { tail -20 "$H/$name.log" >&2; return 1; }
}

# start_dockerd NAME MIRROR_URL [INSECURE_HOST:PORT...]: dockerd with its
# data-root, exec-root, socket and pidfile under $H/NAME; no iptables, no
# bridge; one download attempt. Exports DOCKER_HOST.
start_dockerd() {
  local name=$1 mirror=$2 d=$H/$1 ins="" h i
  shift 2
  mkdir -p "$d"
  for h in "$@"; do ins="$ins${ins:+, }\"$h\""; done
  cat >"$d/daemon.json" <<EOF
{
  "data-root": "$d/data",
  "exec-root": "$d/exec",
  "pidfile": "$d/dockerd.pid",
  "hosts": ["unix://$d/docker.sock"],
  "iptables": false,
  "ip6tables": false,
  "ip-forward": false,
  "ip-masq": false,
  "bridge": "none",
  "registry-mirrors": ["$mirror"],
  "insecure-registries": [$ins],
  "max-download-attempts": 1
}
EOF
  bg "$name" dockerd --config-file "$d/daemon.json"
  export DOCKER_HOST=unix://$d/docker.sock
  for i in $(seq 1 300); do
    "$DOCKER_CLI" version >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  log "dockerd did not come up"
  tail -20 "$H/$name.log" >&2
  return 1
}

# start_containerd NAME: containerd without the CRI plugin, all state under
# $H/NAME. Talk to it with: ctr --address $H/NAME/containerd.sock
start_containerd() {
  local name=$1 d=$H/$1 i
  mkdir -p "$d"
  cat >"$d/config.toml" <<EOF
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$d/containerd.sock"
[ttrpc]
  address = "$d/containerd.sock.ttrpc"
[debug]
  address = "$d/debug.sock"
[metrics]
  address = ""
EOF
  bg "$name" containerd --config "$d/config.toml"
  for i in $(seq 1 100); do
    ctr --address "$d/containerd.sock" version >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  log "containerd did not come up"
  return 1
}

# write_hosts_toml DIR NS HOST_URL [CAPS] [SERVER]: DIR/NS/hosts.toml that
# sends NS (docker.io, gcr.io, ...) to HOST_URL with capabilities CAPS
# (default "pull", "resolve"). SERVER (default a closed loopback port) is
# where containerd goes when the host fails or lacks a capability; the
# default keeps a miss on loopback instead of resolving the real registry.
write_hosts_toml() {
  local dir=$1/$2 caps=${4:-'"pull", "resolve"'} server=${5:-http://127.0.0.1:9}
  mkdir -p "$dir"
  cat >"$dir/hosts.toml" <<EOF
server = "$server"

[host."$3"]
  capabilities = [$caps]
EOF
}

# seed_image REG REPO:TAG [docker|oci] [LABEL]: pushes REG/REPO:TAG, an index
# (Docker manifest list or OCI index) of linux/amd64 and linux/arm64 images.
# Each has one layer with /hello (bin/hello-linux-ARCH, the entrypoint) and
# /etc/image-name = "LABEL (ARCH)", so `docker run` prints
# "hello from LABEL (amd64) on linux/amd64". The bytes depend only on LABEL
# (default REPO:TAG) and the format, so digests are the same in every
# registry and on every run. Per-arch tags TAG-amd64/TAG-arm64 are pushed
# too. Prints the index digest. Uses crane (credentials from DOCKER_CONFIG).
seed_image() {
  local reg=$1 ref=$2 fmt=${3:-docker}
  local repo=${ref%:*} tag=${ref##*:}
  local label=${4:-$repo:$tag} work a base=() idxflag=(--docker-empty-base) kids=()
  work=$(mktemp -d "$H/seed.XXXXXX")
  [ "$fmt" = oci ] && base=(--oci-empty-base) && idxflag=()
  for a in amd64 arm64; do
    mkdir -p "$work/$a/etc"
    install -m 0755 "$E2E_ROOT/bin/hello-linux-$a" "$work/$a/hello"
    printf '%s' "$label ($a)" >"$work/$a/etc/image-name"
    chmod 0644 "$work/$a/etc/image-name"
    chmod 0755 "$work/$a/etc"
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1577836800 \
      -C "$work/$a" -cf "$work/$a.tar" hello etc || return 1
    if ! crane append --insecure "${base[@]}" -f "$work/$a.tar" -t "$reg/$repo:$tag-$a" >/dev/null 2>>"$work/log" ||
      ! crane mutate --insecure "$reg/$repo:$tag-$a" --set-platform "linux/$a" --entrypoint /hello \
        -t "$reg/$repo:$tag-$a" >/dev/null 2>>"$work/log"; then
      cat "$work/log" >&2
      return 1
    fi
    kids+=(-m "$reg/$repo:$tag-$a")
  done
  crane index append --insecure "${idxflag[@]}" "${kids[@]}" -t "$reg/$repo:$tag" >/dev/null 2>>"$work/log" ||
    { cat "$work/log" >&2; return 1; }
  rm -rf "$work"
  crane digest --insecure "$reg/$repo:$tag"
}

# http_status URL [CURL_ARGS...]: prints just the status code.
http_status() {
  local url=$1
  shift
  curl -s -o /dev/null -w '%{http_code}' --max-time 30 "$@" "$url"
}

# start_routing_upstreams: the four stand-ins docker.sh and containerd.sh
# share, seeded, with their addresses and digests in globals:
#
#   docker.io        $UP_HUB (reqproxy: counts, faults) -> tokenserver -> registry
#                    anonymous pull tokens; coreos/* denied to anonymous callers,
#                    so it answers 401 there, as Docker Hub does for unknown names
#                      library/nginx:latest          $D_NGINX     (docker list)
#                      prometheus/prometheus:latest  $D_PROM_HUB  (docker list)
#   gcr.io           $UP_GCR   distroless/static:latest  $D_STATIC  (OCI)
#   registry.k8s.io  $UP_K8S   pause:3.9 $D_PAUSE, coredns/coredns:v1.11.1 $D_COREDNS (OCI)
#   quay.io          $UP_QUAY  prometheus/prometheus:latest $D_PROM_QUAY (OCI, other bytes)
#                              coreos/etcd:v3.5.0 $D_ETCD (only here)
#
# write_routing_config FILE LISTEN then writes a mirror config with the four,
# in that order (the implicit search order).
# shellcheck disable=SC2034 # the D_* and UP_* globals are for the caller
start_routing_upstreams() {
  alloc_port; UP_HUB=127.0.0.1:$PORT
  alloc_port; HUB_FRONT=127.0.0.1:$PORT
  alloc_port; HUB_BACK=127.0.0.1:$PORT
  alloc_port; UP_GCR=127.0.0.1:$PORT
  alloc_port; UP_K8S=127.0.0.1:$PORT
  alloc_port; UP_QUAY=127.0.0.1:$PORT
  TOKEN_REALM=$UP_HUB start_token_registry hub "$HUB_FRONT" "$HUB_BACK" -users seed:seedpw -deny coreos/ || return 1
  start_reqproxy hub-rp "$UP_HUB" "http://$HUB_FRONT" || return 1
  start_registry gcr "$UP_GCR" || return 1
  start_registry k8s "$UP_K8S" || return 1
  start_registry quay "$UP_QUAY" || return 1
  crane auth login "$UP_HUB" -u seed -p seedpw >/dev/null 2>&1 || return 1
  D_NGINX=$(seed_image "$UP_HUB" library/nginx:latest docker) &&
    D_PROM_HUB=$(seed_image "$UP_HUB" prometheus/prometheus:latest docker docker.io/prometheus/prometheus:latest) &&
    D_STATIC=$(seed_image "$UP_GCR" distroless/static:latest oci gcr.io/distroless/static:latest) &&
    D_PAUSE=$(seed_image "$UP_K8S" pause:3.9 oci registry.k8s.io/pause:3.9) &&
    D_COREDNS=$(seed_image "$UP_K8S" coredns/coredns:v1.11.1 oci registry.k8s.io/coredns/coredns:v1.11.1) &&
    D_PROM_QUAY=$(seed_image "$UP_QUAY" prometheus/prometheus:latest oci quay.io/prometheus/prometheus:latest) &&
    D_ETCD=$(seed_image "$UP_QUAY" coreos/etcd:v3.5.0 oci quay.io/coreos/etcd:v3.5.0) || return 1
  [ "$D_PROM_HUB" != "$D_PROM_QUAY" ] || { log "prometheus digests should differ"; return 1; }
  reset_counts "$UP_HUB"
}

write_routing_config() {
  write_mirror_config "$1" "$2" 10m 1m \
    "docker.io=http://$UP_HUB=index.docker.io,registry-1.docker.io" \
    "gcr.io=http://$UP_GCR" \
    "registry.k8s.io=http://$UP_K8S=k8s.gcr.io" \
    "quay.io=http://$UP_QUAY"
}

# mirror_upstream URL_PATH: the X-Mirror-Upstream header of a HEAD on $MIRROR.
mirror_upstream() {
  curl -sI --max-time 30 "http://${MIRROR:?}$1" | tr -d '\r' | sed -n 's/^[Xx]-[Mm]irror-[Uu]pstream: *//p'
}

# oci_error URL: "STATUS CODE" of a GET, CODE from the OCI error body.
oci_error() {
  local body
  body=$(curl -s --max-time 30 -w '\n%{http_code}' "$1")
  printf '%s %s\n' "${body##*$'\n'}" "$(jq -r '.errors[0].code // "-"' <<<"${body%$'\n'*}" 2>/dev/null || echo -)"
}
