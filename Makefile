# framecast: make run (serve the test pattern) and make test (every test).
# Both install what is missing first, so they work on a fresh Debian 12 with Go.

APT_PACKAGES := gcc pkg-config libx264-dev libyuv-dev ffmpeg \
	gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
	gstreamer1.0-plugins-bad gstreamer1.0-libav python3 python3-numpy chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
GO ?= go
BIN := bin/framecast

.PHONY: all run test deps build vet bench bench-deps clean

# apt_install installs those of the Debian packages $(1) that are missing,
# and nothing when all are there.
define apt_install
missing=""; for p in $(1); do \
	dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
done; \
if [ -n "$$missing" ]; then \
	echo "installing:$$missing"; \
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
fi
endef

all: build

# deps installs the Debian packages that are missing (and nothing else), then
# the Go modules.
deps:
	@$(call apt_install,$(APT_PACKAGES))
	@$(GO) mod download

build: deps
	$(GO) build -o $(BIN) ./cmd/framecast

run: build
	./$(BIN) serve --testsrc /test

vet:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) build ./publisher ./pixfmt ./internal/ingest

# -p 1: one package at a time, so that the end-to-end tests' encoders and
# decoders do not compete for the two cores with another package's.
test: deps vet
	$(GO) test -race -count=1 -p 1 -timeout 15m ./...

# bench runs every benchmark (at most 15 minutes), writes bench/results/DATE.json
# and prints a Markdown table. Benchmarks report numbers; they never fail CI.
bench: deps bench-deps
	$(GO) run ./bench/harness

BENCH_APT_PACKAGES := python3-gst-1.0 gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-ugly
bench-deps:
	@$(call apt_install,$(BENCH_APT_PACKAGES))

clean:
	rm -rf bin
