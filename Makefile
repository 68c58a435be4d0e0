# framecast: make run (serve the test pattern) and make test (every test);
# make wheel (the Python client with the server inside) and make install.
# Each installs what is missing first, so they work on a fresh Debian 12 with Go.

# SERVE_APT_PACKAGES build and run the server; TEST_APT_PACKAGES are what the
# tests add: the clients they run, and what the wheel test builds and installs with.
SERVE_APT_PACKAGES := gcc pkg-config libx264-dev libyuv-dev
TEST_APT_PACKAGES := ffmpeg \
	gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
	gstreamer1.0-plugins-bad gstreamer1.0-libav python3 python3-numpy chromium \
	python3-venv python3-setuptools python3-wheel \
	nginx libnginx-mod-rtmp libnginx-mod-stream vlc-bin vlc-plugin-base
WHEEL_APT_PACKAGES := binutils python3 python3-setuptools python3-wheel
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
GO ?= go
BIN := bin/framecast
PREFIX ?= /usr/local

# VERSION is kept in one place, the Python package's __version__; Go builds
# get it as main.version (framecast --version).
VERSION := $(shell sed -n 's/^__version__ = "\([^"]*\)".*/\1/p' clients/python/framecast/__init__.py)
GO_LDFLAGS := -X main.version=$(VERSION)

# The wheel's server links libx264, libyuv and libstdc++ (libyuv is C++) from
# their static archives (Debian ships them in the -dev packages) and leaves
# only glibc (libc, libm) dynamic; --as-needed drops the shared -lx264/-lyuv
# that the cgo directives add after these.
WHEEL_CGO_LDFLAGS := -Wl,--as-needed -Wl,-Bstatic -lx264 -lyuv -lstdc++ -Wl,-Bdynamic \
	-static-libgcc -lm -lpthread -ldl
WHEEL_BIN := clients/python/framecast/bin/framecast
DIST ?= dist
PYTHON3 ?= /usr/bin/python3

.PHONY: all run test deps serve-deps build install vet wheel wheel-deps bench bench-deps clean

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

# deps installs the Debian packages that are missing (and nothing else) for
# serving and for every test, then the Go modules; serve-deps only those for serving.
deps: serve-deps
	@$(call apt_install,$(TEST_APT_PACKAGES))

serve-deps:
	@$(call apt_install,$(SERVE_APT_PACKAGES))
	@$(GO) mod download

build: serve-deps
	$(GO) build -ldflags "$(GO_LDFLAGS)" -o $(BIN) ./cmd/framecast

run: build
	./$(BIN) serve --testsrc /test

# install puts framecast on PATH: $(PREFIX)/bin (as root, or PREFIX=$$HOME/.local).
install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/framecast

# wheel builds $(DIST)/framecast-VERSION-py3-none-PLATFORM.whl: the Python
# client with the server at framecast/bin/framecast, its console script
# `framecast` and `python -m framecast`. Offline: Debian's setuptools and wheel,
# no build isolation. PLATFORM is what the binary needs (clients/python/setup.py).
wheel: serve-deps wheel-deps
	@test -n "$(VERSION)" || { echo "no __version__ in clients/python/framecast/__init__.py"; exit 1; }
	CGO_LDFLAGS="$(WHEEL_CGO_LDFLAGS)" $(GO) build -trimpath -ldflags "-s -w $(GO_LDFLAGS)" -o $(WHEEL_BIN) ./cmd/framecast
	rm -rf clients/python/build clients/python/framecast.egg-info
	mkdir -p $(DIST)
	cd clients/python && $(PYTHON3) -c 'import sys, setuptools.build_meta as b; \
		print("built", sys.argv[1] + "/" + b.build_wheel(sys.argv[1]))' $(abspath $(DIST)) >build.log 2>&1 \
		|| { cat build.log; rm -f build.log; exit 1; }
	@tail -n 1 clients/python/build.log; rm -rf clients/python/build.log clients/python/build clients/python/framecast.egg-info

wheel-deps:
	@$(call apt_install,$(WHEEL_APT_PACKAGES))

vet:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) build ./publisher ./pixfmt ./internal/ingest

# -p 1: one package at a time, so that the end-to-end tests' encoders and
# decoders do not compete for the two cores with another package's.
test: deps vet
	$(GO) test -race -count=1 -p 1 -timeout 15m ./...

# bench runs every benchmark (about 15 minutes), writes bench/results/DATE.json,
# prints the Markdown tables and puts them in docs/benchmarks.md. Benchmarks
# report numbers; they never fail CI.
bench: deps bench-deps
	$(GO) run ./bench/harness -doc docs/benchmarks.md

BENCH_APT_PACKAGES := python3-gst-1.0 gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-ugly
bench-deps:
	@$(call apt_install,$(BENCH_APT_PACKAGES))

clean:
	rm -rf bin $(DIST) $(WHEEL_BIN) clients/python/build clients/python/framecast.egg-info
