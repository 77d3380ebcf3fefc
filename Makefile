# Helix for Go. `make test` is the command the README and CI use.
GO ?= go

.PHONY: test lint bench example cover

test:
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
