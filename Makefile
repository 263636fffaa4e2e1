# The test command is the README's: go test ./... (CI adds -race).
GO ?= go
PKGS := ./...
# Stamped into the binary (`wdtcancel --version`) where Go's own VCS stamp
# is missing, as in a Docker build; see cmd/wdtcancel/version.go.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X main.linkVersion=$(VERSION) -X main.linkCommit=$(COMMIT)

.PHONY: build image test test-race lint fmt bench demo faults faults-short

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/wdtcancel ./cmd/wdtcancel

image:
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t wdtcancel:$(or $(VERSION),dev) .

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
