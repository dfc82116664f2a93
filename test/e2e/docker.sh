#!/usr/bin/env bash
# docker.sh: issue "Routing" with a real Docker daemon (dockerd 20.10 from
# Debian, its own roots under the scratch dir) in front of regmirror and four
# upstream stand-ins (see start_routing_upstreams in lib.sh):
#
#   - docker pull nginx:latest via registry-mirrors: digest, docker run
#   - explicit MIRROR/gcr.io/..., implicit MIRROR/pause (only on
#     registry.k8s.io), alias MIRROR/k8s.gcr.io/pause: right digests and
#     X-Mirror-Upstream
#   - prometheus/prometheus on docker.io and quay.io with different bytes:
#     implicit gets docker.io's, MIRROR/quay.io/... gets quay.io's
#   - docker.io answering 503: a name found only on a later upstream is NOT
#     served from there (5xx), and is once docker.io answers again
#   - docker.io stopped: a name resolved earlier still pulls from cache
#
# The real registries' names are pinned to 127.0.0.1 (scripts/install-deps.sh)
# because dockerd falls back to registry-1.docker.io when a mirror fails.
# Prints "N passed, N failed"; exit status 1 if any check failed.
set -uo pipefail
E2E_PORT_BASE=${E2E_PORT_BASE:-5660}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

grep -q '^127\.0\.0\.1.*registry-1\.docker\.io' /etc/hosts || fail_setup "registry-1.docker.io not pinned in /etc/hosts (run scripts/install-deps.sh)"
alloc_port; MIRROR=127.0.0.1:$PORT
start_routing_upstreams || fail_setup "upstream stand-ins"
write_routing_config "$H/mirror.yml" "$MIRROR"
start_mirror "$H/mirror.yml" || fail_setup "mirror did not start"
start_dockerd dockerd "http://$MIRROR" "$MIRROR" || fail_setup "dockerd did not start"
D=$DOCKER_CLI

# pulled IMAGE DIGEST: docker pull IMAGE, then its RepoDigests contain DIGEST.
pulled() {
  timeout 120 "$D" pull -q "$1" || return 1
  "$D" image inspect -f '{{join .RepoDigests " "}}' "$1" | tee /dev/stderr | grep -q "@$2"
}
# served_by PATH UPSTREAM: HEAD PATH on the mirror says X-Mirror-Upstream: UPSTREAM.
served_by() {
  local got
  got=$(mirror_upstream "$1")
  echo "X-Mirror-Upstream: $got"
  [ "$got" = "$2" ]
}

check "docker pull nginx:latest (registry-mirrors) = upstream digest" pulled nginx:latest "$D_NGINX"
check "docker run --rm --network none nginx:latest prints the hello line" bash -c \
  "timeout 60 '$D' run --rm --network none nginx:latest | tee /dev/stderr | grep -qx 'hello from library/nginx:latest (amd64) on linux/amd64'"
check "explicit: docker pull $MIRROR/gcr.io/distroless/static:latest" \
  pulled "$MIRROR/gcr.io/distroless/static:latest" "$D_STATIC"
check "explicit: served by gcr.io" served_by /v2/gcr.io/distroless/static/manifests/latest gcr.io
check "implicit: docker pull $MIRROR/pause:3.9 (only on registry.k8s.io)" pulled "$MIRROR/pause:3.9" "$D_PAUSE"
check "implicit: pause served by registry.k8s.io" served_by /v2/pause/manifests/3.9 registry.k8s.io
check "alias: docker pull $MIRROR/k8s.gcr.io/pause:3.9" pulled "$MIRROR/k8s.gcr.io/pause:3.9" "$D_PAUSE"
check "alias: served by registry.k8s.io" served_by /v2/k8s.gcr.io/pause/manifests/3.9 registry.k8s.io

# Same name on two registries.
check "implicit: docker pull prometheus/prometheus gets docker.io's" \
  pulled prometheus/prometheus:latest "$D_PROM_HUB"
check "explicit: docker pull $MIRROR/quay.io/prometheus/prometheus gets quay.io's" \
  pulled "$MIRROR/quay.io/prometheus/prometheus:latest" "$D_PROM_QUAY"

# docker.io failing: the mirror cannot know whether docker.io has the name,
# so it must not answer from a later upstream.
set_fault "$UP_HUB" status=503
reset_counts "$UP_HUB"
fails_with_5xx() {
  local r
  r=$(oci_error "http://$MIRROR/v2/coreos/etcd/manifests/v3.5.0")
  echo "mirror answered: $r; docker.io stand-in saw $(count "$UP_HUB" .total) requests"
  case ${r%% *} in 502 | 503 | 504) [ "$(count "$UP_HUB" .total)" -ge 1 ] ;; *) return 1 ;; esac
}
check "docker.io 503: implicit coreos/etcd (only on quay.io) fails with 5xx" fails_with_5xx
set_fault "$UP_HUB" none
recovers() { # retried for a few seconds, in case the mirror backs off an upstream
  local _
  for _ in $(seq 1 10); do
    [ "$(http_status "http://$MIRROR/v2/coreos/etcd/manifests/v3.5.0")" = 200 ] && served_by /v2/coreos/etcd/manifests/v3.5.0 quay.io && return 0
    sleep 1
  done
  return 1
}
check "docker.io back (401 for coreos/*): coreos/etcd resolves to quay.io" recovers

# docker.io gone: what was resolved before still pulls, from the cache.
stop hub-rp
stop hub-token
stop hub
cached_pull() {
  "$D" rmi nginx:latest >/dev/null || return 1
  pulled nginx:latest "$D_NGINX"
}
check "docker.io stopped: docker pull nginx:latest from the mirror's cache" cached_pull

summary
