# Convenience targets; the scripts they call work without make.
.PHONY: run test build bench

run: ## run a node on embedded defaults (./data, 127.0.0.1:8080)
	go run ./cmd/trustid serve

test: ## run every test, installing what the tests need
	./scripts/test.sh

build:
	go build -o bin/ ./cmd/...

bench: ## the benchmarks behind docs/BENCHMARKS.md
	go test -run '^$$' -bench . -benchtime 2s ./gm/
