# Convenience targets; the scripts they call work without make.
# The Go toolchain of go.mod's toolchain line, as in scripts/toolchain.sh.
export GOTOOLCHAIN = auto
.PHONY: run test build bench

run: ## run a node on embedded defaults (./data, 127.0.0.1:8080)
	go run ./cmd/trustid serve

test: ## run every test, installing what the tests need
	./scripts/test.sh

build:
	go build -o bin/ ./cmd/...

bench: ## the benchmarks behind README.md and docs/BENCHMARKS.md, results in bench-out/
	./scripts/bench.sh

.PHONY: fabric-build fabric-up fabric-down fabric-test

fabric-build: ## build the Fabric binaries from the pinned module (cached)
	./scripts/fabric/build.sh

fabric-up: ## start the native Fabric network (3 regions) and deploy the contract
	./scripts/fabric/up.sh

fabric-down: ## stop the Fabric network and remove its state
	./scripts/fabric/down.sh

fabric-test: ## bring the network up, run the Fabric integration tests, tear it down
	./scripts/fabric/test.sh
