#!/usr/bin/env bash
# install-deps.sh: everything the test suite needs on a Debian 12 machine
# (run as root; no service manager is assumed). Idempotent and quick when
# everything is already there.
#
#   1. apt: docker-registry docker.io containerd runc skopeo redis-server
#      nginx-light chromium curl jq. Skipped entirely when every command they
#      provide is already on PATH; otherwise one `apt-get update` and one
#      `apt-get install -y`. Nothing is started (no systemd here).
#   2. go install, into $(go env GOPATH)/bin, only when missing:
#      crane and the OCI distribution-spec conformance suite (pinned).
#   3. Pins the real registries' host names to 127.0.0.1 in /etc/hosts, so
#      that a daemon falling back to "the real registry" stays on loopback.
#   4. Builds the project's test tools into bin/: tokenserver, reqproxy and
#      the hello entrypoint of the test images (linux/amd64 and arm64).
#
# Env: SKIP_APT=1 skips step 1, SKIP_HOSTS=1 skips step 3.
set -euo pipefail
cd "$(dirname "$0")/.."

CRANE_PKG=github.com/google/go-containerregistry/cmd/crane@v0.22.1
CONFORMANCE_PKG=github.com/opencontainers/distribution-spec/conformance@v0.0.0-20260831232431-97274622c111
PEBBLE_PKG=github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3
# distribution v3: the strict upstream of the conformance run (Debian's 2.8
# has write-path bugs of its own; see test/e2e/conformance.sh).
DISTRIBUTION_PKG=github.com/distribution/distribution/v3/cmd/registry@v3.1.2
# SeaweedFS (the S3 server of the scale-out tests) cannot be `go install`ed
# (its go.mod has replace directives): it is built from a wrapper module.
WEED_VERSION=v0.0.0-20261109003541-7506e5f91cd6

APT_PACKAGES=(docker-registry docker.io containerd runc skopeo redis-server nginx-light chromium curl jq
  apache2-utils fonts-wqy-microhei)
# One command (or file) per package above, to tell whether it is installed.
APT_COMMANDS=(docker-registry dockerd containerd runc skopeo redis-server nginx chromium curl jq
  htpasswd /usr/share/fonts/truetype/wqy/wqy-microhei.ttc)

PINNED_HOSTS=(registry-1.docker.io index.docker.io auth.docker.io production.cloudflare.docker.com
  gcr.io registry.k8s.io k8s.gcr.io quay.io ghcr.io mcr.microsoft.com)

say() { printf '[install-deps] %s\n' "$*" >&2; }

install_apt() {
  local missing=() c
  for c in "${APT_COMMANDS[@]}"; do
    command -v "$c" >/dev/null 2>&1 || [ -e "$c" ] || missing+=("$c")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "apt: all commands present, skipping"
    return
  fi
  say "apt: missing ${missing[*]}; installing ${APT_PACKAGES[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${APT_PACKAGES[@]}" >/dev/null
}

install_go_tools() {
  local gobin
  gobin="$(go env GOPATH | cut -d: -f1)/bin"
  if [ ! -x "$gobin/crane" ]; then
    say "go install $CRANE_PKG"
    GOBIN=$gobin go install "$CRANE_PKG"
  fi
  if [ ! -x "$gobin/conformance" ]; then
    say "go install $CONFORMANCE_PKG"
    GOBIN=$gobin go install "$CONFORMANCE_PKG"
  fi
  if [ ! -x "$gobin/registry" ]; then
    say "go install $DISTRIBUTION_PKG"
    GOBIN=$gobin go install "$DISTRIBUTION_PKG"
  fi
  if [ ! -x "$gobin/pebble" ]; then
    say "go install $PEBBLE_PKG"
    GOBIN=$gobin go install "$PEBBLE_PKG"
  fi
  if [ ! -x "$gobin/weed" ] && ! command -v weed >/dev/null 2>&1; then
    say "building SeaweedFS $WEED_VERSION (about 8 minutes, once)"
    local w
    w=$(mktemp -d)
    printf '%s\n' 'module weedbuild' '' 'go 1.26.6' '' \
      "require github.com/seaweedfs/seaweedfs $WEED_VERSION" '' \
      'replace github.com/tyler-smith/go-bip39 => github.com/cosmos/go-bip39 v1.0.0' > "$w/go.mod"
    (cd "$w" && go get "github.com/seaweedfs/seaweedfs/weed@$WEED_VERSION" &&
      go build -o "$gobin/weed" github.com/seaweedfs/seaweedfs/weed)
    rm -rf "$w"
  fi
}

# pin_hosts adds "127.0.0.1 NAME" for each name that has no 127.0.0.1 line
# yet. It appends (never rewrites) because /etc/hosts may be a bind mount.
pin_hosts() {
  local h added=()
  for h in "${PINNED_HOSTS[@]}"; do
    if awk -v h="$h" '$1 !~ /^#/ { for (i = 2; i <= NF; i++) if ($i == h) { if ($1 == "127.0.0.1") found = 1; else other = $1 } }
        END { if (other != "" && !found) print "warning: " h " maps to " other > "/dev/stderr"; exit !found }' /etc/hosts; then
      continue
    fi
    added+=("$h")
  done
  if [ ${#added[@]} -gt 0 ]; then
    say "pinning to 127.0.0.1 in /etc/hosts: ${added[*]}"
    printf '127.0.0.1 %s # regmirror tests\n' "${added[@]}" >> /etc/hosts
  fi
}

build_test_tools() {
  mkdir -p bin
  go build -o bin/tokenserver ./test/tools/tokenserver
  go build -o bin/reqproxy ./test/tools/reqproxy
  local a
  for a in amd64 arm64; do
    CGO_ENABLED=0 GOOS=linux GOARCH=$a go build -trimpath -ldflags='-s -w' -o "bin/hello-linux-$a" ./test/tools/hello
  done
}

[ -n "${SKIP_APT:-}" ] || install_apt
install_go_tools
[ -n "${SKIP_HOSTS:-}" ] || pin_hosts
build_test_tools
say "done"
