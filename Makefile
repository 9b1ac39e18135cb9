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
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/mptcpd

FORCE:

# Unit and integration tests; integration tests fail (not skip) without root.
# CI passes TESTFLAGS=-v so that the log keeps what the tests print (the
# differential test's seed, the storm's counts).
TESTFLAGS ?=
test:
	$(GO) test -count=1 $(TESTFLAGS) ./...

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
	$(GO) run ./bench/daemon -mptcpd $(BIN)
	$(GO) run ./bench/apply -mptcpd $(BIN)

clean:
	rm -rf bin dist

# Packages: a .deb and an .rpm of mptcpd-declarative in $(DIST), built by
# nfpm (packaging/nfpm.yaml) from a static binary, the systemd units, the man
# pages, the bash completion and the shipped /etc/mptcpd.yaml. The tools are
# pinned and built once into $(TOOLS).
.PHONY: package man
DIST           ?= dist
TOOLS          ?= $(CURDIR)/bin/tools
NFPM_VERSION   ?= v2.48.0
MD2MAN_VERSION ?= v2.0.7
NFPM           := $(TOOLS)/nfpm-$(NFPM_VERSION)
MD2MAN         := $(TOOLS)/go-md2man-$(MD2MAN_VERSION)
PKG_ARCH       ?= $(shell $(GO) env GOARCH)
# A release tag vX.Y.Z gives X.Y.Z; otherwise 0.0.0~gitDATE.COMMIT, which
# sorts below any release in both dpkg and rpm.
PKG_VERSION    ?= $(shell v=$$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null); \
  if [ -n "$$v" ]; then echo "$${v#v}"; \
  else echo "0.0.0~git$$(git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || echo 0).$$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"; fi)
PKG_MAINTAINER ?= mptcpd developers
PKG_LICENSE    ?= not yet specified

$(NFPM):
	GOBIN=$(TOOLS)/nfpm.d $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
	mv $(TOOLS)/nfpm.d/nfpm $@ && rmdir $(TOOLS)/nfpm.d

$(MD2MAN):
	GOBIN=$(TOOLS)/md2man.d $(GO) install github.com/cpuguy83/go-md2man/v2@$(MD2MAN_VERSION)
	mv $(TOOLS)/md2man.d/go-md2man $@ && rmdir $(TOOLS)/md2man.d

# Man pages from packaging/man/*.md into $(DIST)/man, plain and gzipped. Any
# warning of go-md2man (an unsupported construct) fails the build.
man: $(MD2MAN)
	@mkdir -p $(DIST)/man
	@for md in packaging/man/*.md; do \
	  page=$$(basename $$md .md); \
	  $(MD2MAN) -in $$md -out $(DIST)/man/$$page 2>$(DIST)/man/$$page.log || { cat $(DIST)/man/$$page.log; exit 1; }; \
	  if [ -s $(DIST)/man/$$page.log ]; then echo "go-md2man warned on $$md:"; cat $(DIST)/man/$$page.log; exit 1; fi; \
	  rm -f $(DIST)/man/$$page.log; \
	  gzip -9n -c $(DIST)/man/$$page > $(DIST)/man/$$page.gz; \
	  echo "man: $(DIST)/man/$$page"; \
	done

package: man $(NFPM)
	@mkdir -p $(DIST)/build
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(PKG_VERSION)" -o $(DIST)/build/mptcpd ./cmd/mptcpd
	sed -e 's|@PKG_BIN@|$(DIST)/build/mptcpd|' -e 's|@PKG_MAN@|$(DIST)/man|' packaging/nfpm.yaml > $(DIST)/build/nfpm.yaml
	@for p in deb rpm; do \
	  PKG_VERSION='$(PKG_VERSION)' PKG_ARCH='$(PKG_ARCH)' PKG_MAINTAINER='$(PKG_MAINTAINER)' PKG_LICENSE='$(PKG_LICENSE)' \
	  $(NFPM) package --config $(DIST)/build/nfpm.yaml --packager $$p --target $(DIST)/ || exit 1; \
	done

# End to end under a real systemd (root): boots a cached Debian 12 tree with
# systemd-nspawn, installs the .deb that `make package` built and drives the
# service with systemctl. Needs debootstrap and systemd-container; see
# test/e2e/README.md.
.PHONY: e2e
e2e: package
	MPTCPD_E2E_DIST=$(DIST) test/e2e/run.sh
