# rightsizer: `make help` lists the targets.
SHELL := /usr/bin/env bash -o pipefail
.DEFAULT_GOAL := help

GO       ?= go
BIN      := $(CURDIR)/bin
# FUZZTIME is an execution count ("10000x") by default, not a duration: Go
# before 1.27 can fail a fuzz target with "context deadline exceeded" when a
# duration runs out on a busy machine (golang/go#75804).
FUZZTIME ?= 10000x
# Tools are pinned by the `tool` directives of hack/tools/go.mod and built
# from there, so their dependencies stay out of the product's go.mod.
GOLANGCI_LINT := $(BIN)/golangci-lint
BENCHSTAT     := $(BIN)/benchstat

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "; printf "Usage: make <target>\n\nTargets:\n"} \
		/^[a-zA-Z0-9_-]+:.*## / { printf "  %-14s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/rightsizer (pure Go, CGO_ENABLED=0)
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/rightsizer ./cmd/rightsizer

.PHONY: run
run: build ## The main job: recommendations for a simulated over-provisioned cluster (no cluster needed)
	$(BIN)/rightsizer recommend --demo

.PHONY: test
test: ## Run every test with -race (tests on real traces use ../shared/data)
	$(GO) test -race -count=1 ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## go vet, then golangci-lint (pinned in hack/tools/go.mod)
	$(GO) vet ./...
	$(GOLANGCI_LINT) run ./...

.PHONY: fmt
fmt: ## Format the code (gofmt -s)
	gofmt -s -w $$(git ls-files '*.go')

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 10000x: executions)
	@set -e; for f in $$(git ls-files '*_test.go' | xargs grep -l '^func Fuzz'); do \
		for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | cut -d' ' -f2); do \
			echo "== $$t in ./$$(dirname $$f)"; \
			$(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) ./$$(dirname $$f); \
		done; \
	done

.PHONY: bench-engine
bench-engine: ## Sketch vs VPA's histogram, and engine ingest at 100k containers: bench/out/engine.json
	$(GO) run ./bench/cmd/bench-engine -out bench/out/engine.json

.PHONY: eval
eval: ## Backtest rightsizer against provisioned, VPA and KRR on shared/data: bench/out/eval.{json,md}, eval-*.png
	$(GO) run ./bench/cmd/eval -out bench/out

.PHONY: bench
bench: bench-engine ## Every benchmark: the engine harness, then micro-benchmarks into bench/out/micro.txt
	$(GO) test -run='^$$' -bench=. -benchmem -count=6 ./recommender/... | tee bench/out/micro.txt

.PHONY: benchstat
benchstat: $(BENCHSTAT) ## Compare micro-benchmarks: make benchstat OLD=a.txt NEW=b.txt
	$(BENCHSTAT) $(OLD) $(NEW)

.PHONY: tools
tools: $(GOLANGCI_LINT) $(BENCHSTAT) ## Build the pinned developer tools into bin/

$(GOLANGCI_LINT): hack/tools/go.mod hack/tools/go.sum
	$(GO) -C hack/tools build -o $@ github.com/golangci/golangci-lint/v2/cmd/golangci-lint

$(BENCHSTAT): hack/tools/go.mod hack/tools/go.sum
	$(GO) -C hack/tools build -o $@ golang.org/x/perf/cmd/benchstat

.PHONY: clean
clean: ## Remove build outputs
	rm -rf $(BIN) bench/out
