# The test command is the README's: go test ./... (CI adds -race).
GO ?= go
PKGS := ./...

.PHONY: build test test-race lint fmt bench demo

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/wdtcancel ./cmd/wdtcancel

test:
	$(GO) test $(PKGS)

test-race:
	$(GO) test -race $(PKGS)

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./worker/wdt/ ./tasks/ ./enqueue/

demo:
	$(GO) run ./cmd/wdtcancel demo
