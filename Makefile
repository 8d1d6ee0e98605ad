# linger — make targets. `make demo` and `make test` are the quick start.

GO          ?= go
BIN         ?= bin/linger
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X github.com/lingerhq/linger/internal/buildinfo.Version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Benchmarks: the hot path (decode of the goldens and of a stream, state
# update, score, full process, changelog encode, restore), COUNT runs each
# for benchstat:
#   make bench > new.txt; benchstat old.txt new.txt
# One of them: make bench BENCH=Process COUNT=3
# The hot table against fastcache at 1M and 10M sessions (minutes, GBs):
#   make bench BENCH=HotTable BENCHPKGS=./pipeline/partition COUNT=1
BENCH       ?= ^Benchmark(Decode|AppendDecision|Update|Score|Apply|StateEncode|StateDecode|Process|DecodeStream|Cache|Restore|Stream)$$
BENCHPKGS   ?= ./schemas ./scoring ./pipeline/partition ./pipeline ./bench
COUNT       ?= 10
# The binary is built with profile-guided optimisation: `go build` of
# ./cmd/linger uses cmd/linger/default.pgo by itself. Benchmarks of the
# library packages are compiled with the same profile, so they measure the
# code the binary runs (PGO=off measures it without).
PGO         ?= $(CURDIR)/cmd/linger/default.pgo

.PHONY: build test test-race soak lint fmt-check vet staticcheck tidy-check check demo bench pgo fuzz clean
.PHONY: deploy-check

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/linger

## test: every test: unit, golden, kfake integration, end-to-end (the real
## binary as processes) and interop (kcat, when installed).
test: fmt-check vet
	$(GO) test -count=1 -timeout 10m ./...

test-race:
	$(GO) test -count=1 -race -timeout 15m ./...

## soak: the real binaries (broker, two replicas, gateway) under hundreds of
## visitors, hostile records and clients and a replica killed with SIGKILL,
## about 3 minutes; its figures are printed (see the README's Soak). The
## build tag keeps it out of test and test-race.
soak:
	$(GO) test -tags soak -run TestSoak -count=1 -timeout 12m -v ./cmd/linger

lint: fmt-check vet staticcheck

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	$(GO) vet -tags soak ./cmd/linger

staticcheck:
	$(GO) run $(STATICCHECK) ./...
	$(GO) run $(STATICCHECK) -tags soak ./cmd/linger

tidy-check:
	$(GO) mod tidy
	git diff --exit-code go.mod go.sum

check: lint tidy-check test test-race

## demo: embedded broker + visitor simulator + processor, invites printed live,
## and the gateway with the demo shop on http://127.0.0.1:8080 (ARGS="--listen ADDR").
## Ctrl-C stops it; `make demo ARGS="--duration 30s"` stops by itself.
demo:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/linger demo $(ARGS)

bench:
	$(GO) test -pgo=$(PGO) -run '^$$' -bench '$(BENCH)' -benchmem -count $(COUNT) -timeout 60m $(BENCHPKGS)

## pgo: rewrite cmd/linger/default.pgo from the processor's CPU profile
## under `linger bench` (about 3 minutes; see bench/pgo.sh).
pgo:
	bench/pgo.sh

## fuzz: a short run of each fuzzer (FUZZTIME each).
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./schemas -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./schemas -run '^$$' -fuzz '^FuzzEventSchemaAgreement$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./scoring -run '^$$' -fuzz '^FuzzDecodeState$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./schemas -run '^$$' -fuzz '^FuzzCapacity$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./schemas -run '^$$' -fuzz '^FuzzFeedback$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./scoring -run '^$$' -fuzz '^FuzzDecodeBudget$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./scoring -run '^$$' -fuzz '^FuzzVisitorRecord$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s

clean:
	rm -rf bin

## deploy-check: the Dockerfile's build line as shell, deploy's Go tests,
## promtool check/test rules, kubeconform on deploy/kubernetes (see deploy/check.sh).
deploy-check:
	bash deploy/check.sh
