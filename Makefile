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
# buf has its own tools module (hack/buf): it needs a newer protobuf than
# the protoc-gen-go that must match our runtime.
BUF           := $(BIN)/buf
PROTOC_GENS   := $(addprefix $(BIN)/,protoc-gen-go protoc-gen-go-grpc protoc-gen-grpc-gateway protoc-gen-openapiv2)
# google/api/{annotations,http}.proto, from a pinned Go module rather than
# the Buf Schema Registry, so that generation needs only the Go proxy.
GOOGLEAPIS_MOD := github.com/grpc-ecosystem/grpc-gateway@v1.16.0
# protoc-gen-openapiv2's options, from the gateway version we link.
OPENAPIV2_MOD  := github.com/grpc-ecosystem/grpc-gateway/v2@$(shell sed -n 's|^\tgithub.com/grpc-ecosystem/grpc-gateway/v2 \(v[^ ]*\).*|\1|p' go.mod)

# go-nvml's header marks calls deprecated that its bindings still wrap:
# the warnings say nothing about our code.
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "; printf "Usage: make <target>\n\nTargets:\n"} \
		/^[a-zA-Z0-9_-]+:.*## / { printf "  %-14s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/rightsizer (pure Go, CGO_ENABLED=0) and bin/rightsizer-agent (cgo, for NVML)
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/rightsizer ./cmd/rightsizer
	CGO_ENABLED=1 $(GO) build -trimpath -o $(BIN)/rightsizer-agent ./cmd/rightsizer-agent

.PHONY: run
run: build ## The main job: serve a simulated cluster's recommendations over gRPC and REST on localhost (no cluster needed)
	$(BIN)/rightsizer serve --demo

.PHONY: test
test: verify envtest prometheus ## Prove generated code fresh, then run every test with -race (real traces from ../shared/data, a real kube-apiserver and etcd)
	KUBEBUILDER_ASSETS=$(ENVTEST_DIR) RIGHTSIZER_REQUIRE_KUBE=1 $(GO) test -race -count=1 ./...

# The Kubernetes integration tests run a real kube-apiserver and etcd,
# built from the Go module proxy by hack/envtest (k8s.io/kubernetes with a
# replace line per staging module). A cold build takes minutes; after that
# make finds the binaries newer than the module's files and does nothing.
ENVTEST_DIR := $(BIN)/envtest
ENVTEST_BINS := $(ENVTEST_DIR)/kube-apiserver $(ENVTEST_DIR)/etcd

.PHONY: envtest
envtest: $(ENVTEST_BINS) ## Build the test cluster's kube-apiserver and etcd into bin/envtest (cold: ~6 min)

$(ENVTEST_BINS) &: hack/envtest/go.mod hack/envtest/go.sum hack/envtest/etcd/main.go
	@mkdir -p $(ENVTEST_DIR)
	cd hack/envtest && CGO_ENABLED=0 $(GO) build -trimpath -o $(ENVTEST_DIR)/ ./etcd k8s.io/kubernetes/cmd/kube-apiserver
	@touch $(ENVTEST_BINS)

# The Prometheus integration tests (recommender/promwrite, prombackfill)
# run Debian's prometheus and promtool 2.42, unpacked from the package
# without installing it or starting a service. make test tells the tests
# where they are and that they must not skip.
PROMETHEUS_DEB := $(BIN)/prometheus-deb
PROMETHEUS     := $(PROMETHEUS_DEB)/usr/bin/prometheus
PROMTOOL       := $(PROMETHEUS_DEB)/usr/bin/promtool
test: export RIGHTSIZER_PROMETHEUS := $(PROMETHEUS)
test: export RIGHTSIZER_PROMTOOL := $(PROMTOOL)
test: export RIGHTSIZER_REQUIRE_PROMETHEUS := 1

.PHONY: prometheus
prometheus: $(PROMETHEUS) ## Fetch Debian's prometheus and promtool (2.42) into bin/prometheus-deb for the integration tests; starts nothing

$(PROMETHEUS):
	rm -rf $(PROMETHEUS_DEB) && mkdir -p $(PROMETHEUS_DEB)
	cd $(PROMETHEUS_DEB) && { apt-get download prometheus || { apt-get update -qq && apt-get download prometheus; }; } && dpkg -x prometheus_*.deb . && rm prometheus_*.deb
	$(PROMETHEUS) --version && test -x $(PROMTOOL)

.PHONY: proto
proto: $(BUF) $(PROTOC_GENS) ## Lint the protos (buf STANDARD) and regenerate Go, gateway and OpenAPI, offline
	@set -e; moddir() { $(GO) mod download -json $$1 | sed -n 's/^\t"Dir": "\(.*\)",$$/\1/p'; }; \
		g=$$(moddir $(GOOGLEAPIS_MOD)); o=$$(moddir $(OPENAPIV2_MOD)); test -n "$$g" && test -n "$$o"; \
		rm -rf proto/.deps; mkdir -p proto/.deps/googleapis/google/api proto/.deps/googleapis/protoc-gen-openapiv2/options; \
		cp $$g/third_party/googleapis/google/api/annotations.proto $$g/third_party/googleapis/google/api/http.proto \
			proto/.deps/googleapis/google/api/; \
		cp $$o/protoc-gen-openapiv2/options/annotations.proto $$o/protoc-gen-openapiv2/options/openapiv2.proto \
			proto/.deps/googleapis/protoc-gen-openapiv2/options/; chmod -R u+w proto/.deps
	cd proto && $(BUF) lint && PATH=$(BIN):$$PATH $(BUF) generate

.PHONY: verify
verify: proto ## Fail if the generated files differ from the committed ones
	@git diff --exit-code -- proto api/openapi || { echo "generated files are stale: run make proto and commit" >&2; exit 1; }
	@untracked=$$(git ls-files --others --exclude-standard -- proto api/openapi); \
		if [ -n "$$untracked" ]; then echo "generated files not committed: $$untracked" >&2; exit 1; fi

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

.PHONY: eval-gpu
eval-gpu: ## Backtest GPU shapes (cost/balanced/performance vs whole-gpu and kruize) on the GenAI trace as H100-80GB: bench/out/gpu.json
	$(GO) run ./bench/cmd/eval-gpu -out bench/out/gpu.json

.PHONY: eval-plan
eval-plan: ## Node plans on the Alibaba GPU trace: FGD protocol, plan vs lower bound, 10k-pod plan time: bench/out/nodeplan.json
	$(GO) run ./bench/cmd/eval-plan -out bench/out/nodeplan.json

.PHONY: bench-api
bench-api: build ## Drive a real `rightsizer serve` over loopback: bench/out/api.json (ingest, list and watch figures)
	$(GO) run ./bench/cmd/bench-api -bin $(BIN)/rightsizer -out bench/out/api.json

.PHONY: bench-kube
bench-kube: envtest ## Discovery on 5,000 pods in the test API server: bench/out/kube.json (inventory_seconds, steady_requests_per_min)
	KUBEBUILDER_ASSETS=$(ENVTEST_DIR) $(GO) run ./bench/cmd/bench-kube -out bench/out/kube.json

.PHONY: bench-agent
bench-agent: ## The node agent's cgroup reader on a synthetic node of 200 containers: bench/out/agent.json (cpu_ms_per_round, rss_mib vs targets)
	$(GO) run ./bench/cmd/bench-agent -out bench/out/agent.json

.PHONY: bench
bench: bench-engine bench-api bench-kube bench-agent ## Every benchmark: the engine harness, then micro-benchmarks into bench/out/micro.txt
	$(GO) test -run='^$$' -bench=. -benchmem -count=6 ./recommender/... ./api/... | tee bench/out/micro.txt

.PHONY: benchstat
benchstat: $(BENCHSTAT) ## Compare micro-benchmarks: make benchstat OLD=a.txt NEW=b.txt
	$(BENCHSTAT) $(OLD) $(NEW)

.PHONY: tools
tools: $(GOLANGCI_LINT) $(BENCHSTAT) $(BUF) $(PROTOC_GENS) ## Build the pinned developer tools into bin/

$(GOLANGCI_LINT): hack/tools/go.mod hack/tools/go.sum
	$(GO) -C hack/tools build -o $@ github.com/golangci/golangci-lint/v2/cmd/golangci-lint

$(BENCHSTAT): hack/tools/go.mod hack/tools/go.sum
	$(GO) -C hack/tools build -o $@ golang.org/x/perf/cmd/benchstat

$(BUF): hack/buf/go.mod hack/buf/go.sum
	$(GO) -C hack/buf build -o $@ github.com/bufbuild/buf/cmd/buf

$(PROTOC_GENS) &: hack/tools/go.mod hack/tools/go.sum
	$(GO) -C hack/tools build -o $(BIN)/ google.golang.org/protobuf/cmd/protoc-gen-go \
		google.golang.org/grpc/cmd/protoc-gen-go-grpc \
		github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway \
		github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2

.PHONY: clean
clean: ## Remove build outputs
	rm -rf $(BIN) bench/out
