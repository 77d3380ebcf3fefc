# Helix for Go. `make test` is the command the README and CI use.
GO ?= go

.PHONY: test lint bench example cover deps

test:
	@$(MAKE) --no-print-directory deps || echo "warning: make deps failed; the browser and AI SDK tests will skip"
	$(GO) vet ./...
	$(GO) test -race -shuffle=on -count=1 ./...

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=6 ./runtime/local/ ./store/...

example:
	$(GO) run ./examples/research

# deps installs what the browser and AI SDK tests need: Debian's chromium
# (never a downloaded browser) and the ai npm package pinned in
# server/testdata/aisdk/package-lock.json. Without them those two tests skip.
deps:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get install -y chromium >/dev/null || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }; \
		else sudo apt-get install -y chromium; fi; }
	cd server/testdata/aisdk && npm ci --no-audit --no-fund --loglevel=error
