#!/usr/bin/env bash
# containerd.sh: issue "Routing" with a real containerd (1.6 from Debian,
# standalone, its own roots under the scratch dir) and `ctr --hosts-dir`, in
# front of regmirror and four upstream stand-ins (start_routing_upstreams in
# lib.sh). containerd sends /v2/<repo>/...?ns=<registry>, so the mirror
# routes on ns.
#
#   - hosts.toml for docker.io, gcr.io, registry.k8s.io, quay.io pointing at
#     the mirror (capabilities pull+resolve, server a closed loopback port):
#     ctr pull from each, digests match, ctr run works
#   - same name on docker.io and quay.io: ns=quay.io gets quay.io's bytes
#   - pull-only layout (capabilities ["pull"], server = the upstream
#     stand-in): containerd resolves the tag upstream and fetches manifests
#     and blobs by digest from the mirror
#   - the mirror never dials hosts it was not configured with: ?ns=HOST,
#     /v2/HOST/..., /v2/evil.example/... get 404 NAME_UNKNOWN and a
#     recording server on HOST sees nothing
#
# Prints "N passed, N failed"; exit status 1 if any check failed.
set -uo pipefail
E2E_PORT_BASE=${E2E_PORT_BASE:-5690}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

alloc_port; MIRROR=127.0.0.1:$PORT
alloc_port; MIRROR_RP=127.0.0.1:$PORT # reqproxy in front of the mirror: what containerd sends
alloc_port; RECORDER=127.0.0.1:$PORT  # must never be contacted
start_routing_upstreams || fail_setup "upstream stand-ins"
write_routing_config "$H/mirror.yml" "$MIRROR"
start_mirror "$H/mirror.yml" || fail_setup "mirror did not start"
start_reqproxy mirror-rp "$MIRROR_RP" "http://$MIRROR" || fail_setup "reqproxy in front of the mirror"
start_reqproxy recorder "$RECORDER" "http://127.0.0.1:9" || fail_setup "recorder"
start_containerd ctrd || fail_setup "containerd did not start"
A=$H/ctrd/containerd.sock
HD=$H/hosts.d
for ns in docker.io gcr.io registry.k8s.io quay.io; do
  write_hosts_toml "$HD" "$ns" "http://$MIRROR_RP"
done

# ctr_pulled ADDRESS HOSTS_DIR REF DIGEST: ctr images pull, then the image's
# target digest is DIGEST.
ctr_pulled() {
  local addr=$1 hd=$2 ref=$3 want=$4 got
  timeout 120 ctr --address "$addr" images pull --hosts-dir "$hd" "$ref" >"$H/pull.out" 2>&1 ||
    { tail -5 "$H/pull.out"; return 1; }
  got=$(ctr --address "$addr" images ls | awk -v r="$ref" '$1 == r {print $3}')
  echo "$ref -> $got (want $want)"
  [ "$got" = "$want" ]
}

check "ctr pull docker.io/library/nginx:latest" ctr_pulled "$A" "$HD" docker.io/library/nginx:latest "$D_NGINX"
check "ctr pull gcr.io/distroless/static:latest" ctr_pulled "$A" "$HD" gcr.io/distroless/static:latest "$D_STATIC"
check "ctr pull registry.k8s.io/pause:3.9" ctr_pulled "$A" "$HD" registry.k8s.io/pause:3.9 "$D_PAUSE"
check "ctr pull quay.io/prometheus/prometheus (ns=quay.io) gets quay.io's" \
  ctr_pulled "$A" "$HD" quay.io/prometheus/prometheus:latest "$D_PROM_QUAY"
check "ctr pull docker.io/prometheus/prometheus gets docker.io's" \
  ctr_pulled "$A" "$HD" docker.io/prometheus/prometheus:latest "$D_PROM_HUB"
check "containerd sent ?ns= for each registry" bash -c \
  "for ns in docker.io gcr.io registry.k8s.io quay.io; do grep -q \"manifests/[^ ]*?ns=\$ns \" '$H/mirror-rp.requests' || { echo no ns=\$ns; exit 1; }; done"
check "ctr run docker.io/library/nginx:latest prints the hello line" bash -c \
  "timeout 60 ctr --address '$A' run --rm --net-host docker.io/library/nginx:latest e2e-$$ | tee /dev/stderr | grep -qx 'hello from library/nginx:latest (amd64) on linux/amd64'"

# Pull-only layout, in a second containerd with an empty content store.
start_containerd ctrd2 || fail_setup "second containerd did not start"
HD2=$H/hosts-pull-only.d
write_hosts_toml "$HD2" registry.k8s.io "http://$MIRROR_RP" '"pull"' "http://$UP_K8S"
reset_counts "$MIRROR_RP"
check "pull-only: ctr pull registry.k8s.io/coredns/coredns:v1.11.1" \
  ctr_pulled "$H/ctrd2/containerd.sock" "$HD2" registry.k8s.io/coredns/coredns:v1.11.1 "$D_COREDNS"
by_digest_from_mirror() { # config and layer (and the child manifest) answered 200 by the mirror
  local f=$H/mirror-rp.requests
  grep 'coredns/coredns' "$f"
  [ "$(grep -c 'GET /v2/coredns/coredns/blobs/sha256:[0-9a-f]*?ns=registry.k8s.io status=200 ' "$f")" -ge 2 ] &&
    grep -q 'GET /v2/coredns/coredns/manifests/sha256:[0-9a-f]*?ns=registry.k8s.io status=200 ' "$f" &&
    ! grep -q 'coredns/coredns/manifests/v1.11.1' "$f"
}
check "pull-only: blobs came from the mirror by digest, the tag from the upstream" by_digest_from_mirror

# Never dial an unconfigured host.
name_unknown() {
  local r
  r=$(oci_error "http://$MIRROR$1")
  echo "GET $1 -> $r"
  [ "$r" = "404 NAME_UNKNOWN" ]
}
check "?ns=$RECORDER: 404 NAME_UNKNOWN" name_unknown "/v2/x/manifests/latest?ns=$RECORDER"
check "/v2/$RECORDER/x/...: 404 NAME_UNKNOWN" name_unknown "/v2/$RECORDER/x/manifests/latest"
check "/v2/evil.example/x/...: 404 NAME_UNKNOWN" name_unknown "/v2/evil.example/x/manifests/latest"
check "?ns=$RECORDER blob by digest: 404" test "$(http_status \
  "http://$MIRROR/v2/x/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000?ns=$RECORDER")" = 404
check "the recording server on $RECORDER got no request" test "$(count "$RECORDER" .total)" = 0

summary
