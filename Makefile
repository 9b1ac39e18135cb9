# mptcpd build, test and benchmark entry points. `make test` and `make bench`
# need root: the integration tests create network namespaces.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BIN       := bin/mptcpd
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo $$($(GO) env GOPATH)/bin/staticcheck)

.PHONY: all build test unit lint bench demo fuzz clean

all: build

build: $(BIN)

$(BIN): FORCE
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/mptcpd

FORCE:

# Unit and integration tests; integration tests fail (not skip) without root.
test:
	$(GO) test -count=1 ./...

# Only the tests that need no privilege.
unit:
	MPTCPD_SKIP_PRIVILEGED=1 $(GO) test -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

# Short fuzz runs of every fuzz target (seeds are in testdata/fuzz).
FUZZTIME ?= 15s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg || exit 1; \
	  done; \
	done

# Apply examples/demo.yaml to a throwaway network namespace (root).
demo: build
	scripts/demo.sh $(BIN)

bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	@if [ -x bench/batch.sh ]; then bench/batch.sh $(BIN); fi

clean:
	rm -rf bin dist
