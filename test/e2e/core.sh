#!/usr/bin/env bash
# core.sh: issue "Core". The real regmirror binary in front of one
# Docker-Hub-like upstream (distribution 2.8 behind token auth):
#
#   crane/skopeo -> regmirror -> reqproxy (counts) -> tokenserver -> docker-registry
#
#   - GET and HEAD /v2/ answer 200 {}
#   - crane pull --platform linux/amd64 works, fetches every amd64 blob from
#     the upstream exactly once and no arm64 blob at all, with a token
#   - a second pull (crane and skopeo) makes zero upstream blob GETs
#   - every digest (index, child manifests, config, layers) read through the
#     mirror matches the upstream, for a Docker manifest list and an OCI index
#   - a push is refused with 405 UNSUPPORTED
#   - with the upstream stopped, pulls by tag and by digest come from cache
#
# Prints "N passed, N failed"; exit status 1 if any check failed.
set -uo pipefail
E2E_PORT_BASE=${E2E_PORT_BASE:-5600}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

alloc_port; MIRROR=127.0.0.1:$PORT
alloc_port; UP=127.0.0.1:$PORT    # reqproxy: the upstream as everyone sees it
alloc_port; FRONT=127.0.0.1:$PORT # tokenserver
alloc_port; BACK=127.0.0.1:$PORT  # docker-registry

# The realm is the reqproxy's address, so token requests are counted too and
# realm and registry share a host:port (which crane insists on).
TOKEN_REALM=$UP start_token_registry hub "$FRONT" "$BACK" -users seed:seedpw || fail_setup "token registry"
start_reqproxy hub-rp "$UP" "http://$FRONT" || fail_setup "reqproxy"
crane auth login "$UP" -u seed -p seedpw >/dev/null 2>&1 || fail_setup "crane auth login"
NGINX=$(seed_image "$UP" library/nginx:latest docker) || fail_setup "seed nginx"
ALPINE=$(seed_image "$UP" library/alpine:3.20 oci) || fail_setup "seed alpine"
log "seeded nginx $NGINX, alpine $ALPINE"

# inventory REPO DIGEST: "kind arch digest" lines for an index and its tree,
# read from the upstream.
inventory() {
  local repo=$1 idx=$2 kid arch m
  echo "index all $idx"
  crane manifest --insecure "$UP/$repo@$idx" |
    jq -r '.manifests[] | "\(.digest) \(.platform.architecture)"' |
    while read -r kid arch; do
      echo "manifest $arch $kid"
      m=$(crane manifest --insecure "$UP/$repo@$kid")
      jq -r --arg a "$arch" '"config \($a) \(.config.digest)", (.layers[] | "layer \($a) \(.digest)")' <<<"$m"
    done
}
inventory library/nginx "$NGINX" >"$H/nginx.inv" || fail_setup "inventory nginx"
inventory library/alpine "$ALPINE" >"$H/alpine.inv" || fail_setup "inventory alpine"
digests() { awk -v k="$2" -v a="$3" '$1 == k && $2 == a {print $3}' "$H/$1.inv"; }

write_mirror_config "$H/mirror.yml" "$MIRROR" 1h 1m \
  "docker.io=http://$UP=index.docker.io,registry-1.docker.io"
start_mirror "$H/mirror.yml" || fail_setup "mirror did not start"
export DOCKER_CONFIG=$H/anonymous # no credentials for the mirror
mkdir -p "$DOCKER_CONFIG"
reset_counts "$UP"

# --- /v2/
check "GET /v2/ answers 200 {}" bash -c "curl -fsS http://$MIRROR/v2/ | jq -e '. == {}'"
check "HEAD /v2/ answers 200" test "$(http_status "http://$MIRROR/v2/" -I)" = 200

# --- first pull: one platform only
check "crane pull --platform linux/amd64 through the mirror" \
  crane pull --insecure --platform linux/amd64 "$MIRROR/library/nginx:latest" "$H/nginx-amd64.tar"
no_arm64_blobs() {
  local d n bad=0
  for d in $(digests nginx config arm64) $(digests nginx layer arm64); do
    n=$(blob_gets "$UP" "$d")
    echo "$d GET x$n"
    [ "$n" = 0 ] || bad=1
  done
  return $bad
}
check "no arm64 blob was fetched from the upstream" no_arm64_blobs
amd64_blobs_once() {
  local d n bad=0
  for d in $(digests nginx config amd64) $(digests nginx layer amd64); do
    n=$(blob_gets "$UP" "$d")
    echo "$d GET x$n"
    [ "$n" = 1 ] || bad=1
  done
  return $bad
}
check "each amd64 blob was fetched from the upstream exactly once" amd64_blobs_once
check "the mirror authenticated with a bearer token" \
  test "$(count "$UP" '.requests["GET token"]')" -ge 1
check "responses carry X-Mirror-Upstream: docker.io" bash -c \
  "curl -fsSI http://$MIRROR/v2/library/nginx/manifests/latest | tr -d '\r' | grep -qix 'X-Mirror-Upstream: docker.io'"

# --- second pull: cache only
reset_counts "$UP"
check "second crane pull (linux/amd64)" \
  crane pull --insecure --platform linux/amd64 "$MIRROR/library/nginx:latest" "$H/nginx-amd64-2.tar"
check "skopeo copy (linux/amd64) to dir:" \
  skopeo copy -q --src-tls-verify=false "docker://$MIRROR/library/nginx:latest" "dir:$H/skopeo-nginx"
check "second pulls made zero upstream blob GETs" \
  test "$(count "$UP" '.requests["GET blobs"]')" = 0
skopeo_dir_ok() { # every file named by a digest holds those bytes; the manifest is the amd64 child
  local f n=0
  for f in "$H"/skopeo-nginx/*; do
    case ${f##*/} in manifest.json | version) continue ;; esac
    [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "${f##*/}" ] || { echo "bad blob ${f##*/}"; return 1; }
    n=$((n + 1))
  done
  [ "sha256:$(sha256sum <"$H/skopeo-nginx/manifest.json" | cut -d' ' -f1)" = "$(digests nginx manifest amd64)" ] && [ "$n" -ge 2 ]
}
check "skopeo's copy matches the upstream amd64 manifest and blobs" skopeo_dir_ok
check "skopeo inspect --raw: index digest = upstream" bash -c \
  "[ sha256:\$(skopeo inspect --raw --tls-verify=false docker://$MIRROR/library/nginx:latest | sha256sum | cut -d' ' -f1) = $NGINX ]"

# --- every digest, both media-type families
same_tree() { # NAME REPO TAG: all manifests and blobs read through the mirror hash to their digests
  local inv=$1 repo=$2 tag=$3 kind arch d got bad=0
  got=$(crane digest --insecure "$MIRROR/$repo:$tag") || return 1
  [ "$got" = "$(digests "$inv" index all)" ] || { echo "tag digest $got"; bad=1; }
  cmp <(crane manifest --insecure "$MIRROR/$repo:$tag") <(crane manifest --insecure "$UP/$repo:$tag") ||
    { echo "index bytes differ"; bad=1; }
  while read -r kind arch d; do
    case $kind in
    index | manifest) got=$(crane manifest --insecure "$MIRROR/$repo@$d" | sha256sum) ;;
    *) got=$(crane blob --insecure "$MIRROR/$repo@$d" | sha256sum) ;;
    esac
    if [ "sha256:${got%% *}" = "$d" ]; then echo "ok $kind $arch $d"; else echo "MISMATCH $kind $arch $d"; bad=1; fi
  done <"$H/$inv.inv"
  return $bad
}
check "docker manifest list: every digest matches the upstream" same_tree nginx library/nginx latest
check "OCI index: every digest matches the upstream" same_tree alpine library/alpine 3.20
manifest_headers() { # HEAD by tag: content type and digest of the index
  local h
  h=$(curl -fsSI -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
    -H 'Accept: application/vnd.oci.image.index.v1+json' \
    "http://$MIRROR/v2/library/nginx/manifests/latest" | tr -d '\r')
  echo "$h"
  grep -qix 'Content-Type: application/vnd.docker.distribution.manifest.list.v2+json' <<<"$h" &&
    grep -qix "Docker-Content-Digest: $NGINX" <<<"$h"
}
check "HEAD manifest: Content-Type and Docker-Content-Digest as upstream" manifest_headers

# --- read-only
push_refused() {
  local out body
  out=$(crane push --insecure "$H/nginx-amd64.tar" "$MIRROR/library/pushed:1" 2>&1) && { echo "push succeeded"; return 1; }
  echo "$out"
  grep -Eq '405|UNSUPPORTED' <<<"$out" || return 1
  body=$(curl -s -X POST -w ' %{http_code}' "http://$MIRROR/v2/library/pushed/blobs/uploads/")
  echo "$body"
  [ "${body##* }" = 405 ] && jq -e '.errors[0].code == "UNSUPPORTED"' <<<"${body% *}"
}
check "crane push is refused with 405 UNSUPPORTED" push_refused

# --- upstream gone: cache only
stop hub-rp
stop hub-token
stop hub
check "upstream stopped: crane digest by tag from cache" \
  test "$(crane digest --insecure "$MIRROR/library/nginx:latest")" = "$NGINX"
check "upstream stopped: crane pull by tag from cache" \
  crane pull --insecure --platform linux/amd64 "$MIRROR/library/nginx:latest" "$H/cached-tag.tar"
check "upstream stopped: crane pull by digest from cache" \
  crane pull --insecure --platform linux/amd64 "$MIRROR/library/nginx@$NGINX" "$H/cached-digest.tar"
check "upstream stopped: skopeo inspect by digest from cache" \
  skopeo inspect --raw --tls-verify=false "docker://$MIRROR/library/alpine@$ALPINE"

summary
