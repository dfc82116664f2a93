# syntax=docker/dockerfile:1
#
# regmirror container image: a static binary on distroless, running as the
# unprivileged "nonroot" user (65532). Multi-platform:
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg VERSION=v1.0.0 -t regmirror .
#
# Configuration: mount a file at /etc/regmirror/config.yaml (see deploy/ and
# examples/). Data: the volume at /var/lib/regmirror. Ports: 5000 (registry
# API and homepage), 5001 (admin: /metrics, pprof) when admin.listen is
# ":5001".

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY cmd ./cmd
COPY internal ./internal
ARG TARGETOS TARGETARCH
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build \
      -ldflags "-s -w -X github.com/regmirror/regmirror/internal/serve.Version=${VERSION}" \
      -o /out/regmirror ./cmd/regmirror
# The data directory, owned by the runtime user (distroless has no shell to
# create it later).
RUN mkdir -p /out/var/lib/regmirror /out/etc/regmirror

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="regmirror" \
      org.opencontainers.image.description="Pull-through mirror for container images" \
      org.opencontainers.image.source="https://github.com/regmirror/regmirror" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/regmirror /usr/local/bin/regmirror
COPY --from=build --chown=65532:65532 /out/var/lib/regmirror /var/lib/regmirror
COPY --from=build /out/etc/regmirror /etc/regmirror
USER 65532:65532
WORKDIR /var/lib/regmirror
VOLUME ["/var/lib/regmirror"]
EXPOSE 5000 5001
# SIGTERM starts a graceful shutdown (server.shutdownTimeout, default 30s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/regmirror"]
# Without a config file the built-in defaults apply (listen :5000, the six
# public upstreams); give one with: serve --config /etc/regmirror/config.yaml
CMD ["serve", "--data", "/var/lib/regmirror"]
