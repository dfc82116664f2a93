# regmirror developer targets. The test suite itself lives in scripts/test.sh
# (see docs/testing.md); these targets are shortcuts to it.

GO      ?= go
CONFIG  ?=
E2E     ?=

.PHONY: build run test unit e2e fuzz bench deps tools clean

## build: bin/regmirror
build:
	$(GO) build -o bin/regmirror ./cmd/regmirror

## run: the mirror from source, with CONFIG=FILE or the built-in defaults
run:
	$(GO) run ./cmd/regmirror serve $(if $(CONFIG),--config $(CONFIG))

## test: everything (deps, vet, unit, fuzz, e2e); the README's test command
test:
	scripts/test.sh

## unit: go vet and go test only
unit:
	scripts/test.sh vet unit

## e2e: the end-to-end scripts (E2E="core docker" for a subset)
e2e:
	E2E="$(E2E)" scripts/test.sh e2e

## fuzz: a short run of every Fuzz target (FUZZTIME=30s for longer)
fuzz:
	scripts/test.sh fuzz

## bench: benchmarks (scripts/bench.sh)
bench:
	scripts/bench.sh

## deps: install test dependencies and build the test tools into bin/
deps:
	scripts/install-deps.sh

## tools: only the test tools (bin/tokenserver, bin/reqproxy, bin/hello-linux-*)
tools:
	SKIP_APT=1 SKIP_HOSTS=1 scripts/install-deps.sh

clean:
	rm -rf bin
