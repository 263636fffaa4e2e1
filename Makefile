# The test command is the README's: go test ./... (CI adds -race).
GO ?= go
PKGS := ./...

.PHONY: build test test-race lint fmt bench demo faults faults-short

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

# The fault suite: the real binary as separate processes against a real
# redis-server and the sandbox (see internal/faults). faults-short runs in CI.
faults-short:
	$(GO) test -tags faults -count=1 -timeout 30m -v ./internal/faults/ 2>&1 | grep -E '^(=== RUN|--- |\s+\S+_test.go|PASS|FAIL|ok)'

faults:
	$(GO) test -tags faults -count=1 -timeout 120m -v ./internal/faults/ -faults.full 2>&1 | grep -E '^(=== RUN|--- |\s+\S+_test.go|PASS|FAIL|ok)'
