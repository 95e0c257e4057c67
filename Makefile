# Kapok. `make run` serves the demo on a private PostgreSQL + PgBouncer (./.kapok);
# `make test` runs every test against that stack.
.PHONY: build run test test-helm lint down clean bench

GO ?= go
# Build this module alone, whatever go.work a parent directory holds.
export GOWORK := off
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

ifeq ($(shell command -v $(GO) 2>/dev/null),)
$(error Go is not on PATH: install Go 1.26 or add it, e.g. export PATH=$$PATH:/usr/local/go/bin)
endif

# The flags of every build of the binary; the Dockerfile's build stage runs the same
# command (configs/helm/check checks that it does).
BUILD_FLAGS := -trimpath

build: console/dist/app/index.html
	CGO_ENABLED=0 $(GO) build $(BUILD_FLAGS) -o bin/kapok ./cmd/kapok

# The web console (package console embeds console/dist/app): rebuilt when its sources change.
CONSOLE_SRC := $(shell find console/src -type f) $(addprefix console/,index.html package.json package-lock.json vite.config.ts tsconfig.json build)
console/dist/app/index.html: $(CONSOLE_SRC)
	./console/build

run: build
	./bin/kapok dev

test: build
	./bin/kapok dev up
	$(MAKE) lint
	$(GO) test -race -count=1 ./...
	@# Allocation budgets, which the race detector would distort, once more without it.
	$(GO) test -count=1 -run 'Alloc' ./...
	$(MAKE) test-helm
	@# The performance gate: Kapok against the raw-pgx baseline, every ratio over its threshold.
	$(MAKE) bench QUICK=1

# The Helm chart rendered by Helm's library and every object decoded strictly into the
# Kubernetes API types, kapok deploy's values included; the Dockerfile checked. A module of
# its own (configs/helm/check), so Helm stays out of Kapok's dependencies: its first run
# downloads and compiles Helm and the Kubernetes libraries (3 to 4 minutes on 2 cores), later
# runs take seconds.
test-helm: build
	cd configs/helm/check && KAPOK_BIN=$(CURDIR)/bin/kapok GOFLAGS=-mod=mod $(GO) test -count=1 ./...

lint:
	@unformatted=$$(find . \( -name .kapok -o -name node_modules -o -name testdata \) -prune -o -name '*.go' -print0 | xargs -0 -r gofmt -l); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

down: build
	./bin/kapok dev down

clean: build
	./bin/kapok dev clean
	rm -rf bin

bench: build
	./bin/kapok bench suite $(if $(QUICK),--quick)
