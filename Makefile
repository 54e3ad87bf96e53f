# kanaria: `make demo` runs the main job, `make test` runs every test. Both set up what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help
# npm's own scripts run with the Node 24 that the `node` devDependency puts first on their PATH.
NPX := npx --no-install

.PHONY: help install build lint format crds test test-unit test-integration cluster cluster-down cluster-build cluster-status demo clean image helm bench

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: node_modules/.installed ## Install dependencies (and Node 24) and build the CLI
	$(MAKE) build

build: node_modules/.installed ## Compile src/ to dist/ (the `kanaria` bin) and bundle the controller image's dist/bundle/
	$(NPX) tsc -p tsconfig.build.json
	$(NPX) tsc -p src/dashboard/client/tsconfig.json --noEmit false --outDir dist/dashboard
	$(NPX) rolldown -c image/bundle.config.mjs --logLevel warn >/dev/null

lint: node_modules/.installed ## Biome lint + format check, and a full type check
	$(NPX) biome check .
	$(NPX) tsc -p tsconfig.json --noEmit
	$(NPX) tsc -p src/dashboard/client/tsconfig.json

format: node_modules/.installed ## Apply Biome's formatting and safe fixes
	$(NPX) biome check --write .

crds: node_modules/.installed ## Regenerate crds/*.yaml from the zod schemas in src/api
	$(NPX) node src/api/crdgen/main.ts crds

test: install lint ## Every test: unit, then integration against a local control plane it starts itself
	$(NPX) vitest run

test-unit: node_modules/.installed ## Unit tests only (no cluster)
	$(NPX) vitest run --project unit

test-integration: node_modules/.installed ## Integration tests only
	$(NPX) vitest run --project integration --project integration-exclusive

cluster-build: ## Build/fetch the control plane binaries into ~/.cache/kanaria
	bash test/cluster/cluster.sh build

cluster: node_modules/.installed ## Start etcd, kube-apiserver, controller-manager, scheduler, KWOK, Prometheus, moto and (as root) the real data plane
	bash test/cluster/cluster.sh up

cluster-down: ## Stop everything `make cluster` started
	bash test/cluster/cluster.sh down

demo: install ## The main job, live: local control plane, a good release promoted, a bad one rolled back
	node_modules/.bin/node test/demo/demo.ts

cluster-status: ## Show what the local cluster runs
	bash test/cluster/cluster.sh status

clean: cluster-down ## Remove build output, `make cluster` and a kept demo (running test clusters are left alone)
	KANARIA_CLUSTER_DIR=$(CURDIR)/.kanaria/demo bash test/cluster/cluster.sh down
	rm -rf dist .kanaria/cluster .kanaria/demo .kanaria/last-test-logs .kanaria/test-logs

IMAGE_VERSION := $(shell sed -n 's/^  "version": "\(.*\)",$$/\1/p' package.json)
IMAGE_ARCHIVE := .kanaria/image/kanaria-$(IMAGE_VERSION).oci.tar

image: $(IMAGE_ARCHIVE) ## Build the controller image as an OCI archive (no Docker engine; Dockerfile for Docker users)

$(IMAGE_ARCHIVE): node_modules/.installed package.json package-lock.json image/build.sh image/bundle.config.mjs $(shell find src -name '*.ts' -not -name '*.test.ts' 2>/dev/null)
	$(MAKE) build
	bash image/build.sh $@

helm: ## Build helm from its Go module into ~/.cache/kanaria (or use helm on PATH with KANARIA_HELM_FROM_PATH=1)
	@bash test/cluster/helm.sh build

N ?= 50
bench: node_modules/.installed ## kanaria vs Flagger v1.36.1 on two local clusters, N Canaries each (make bench N=1000; BENCH_SOAK_MIN=30 for a soak)
	N=$(N) node_modules/.bin/node test/bench/bench.ts
