# Strata's two set-up commands for a newcomer: `make run` and `make test`.
# Both install what the build needs on Debian (when run as root) or print the command to run.

CARGO ?= cargo
# Extra arguments for `strata up`, e.g. `make run UP_ARGS="--http 127.0.0.1:9000"`.
UP_ARGS ?=

.PHONY: run test build bench bench-all deps test-peers fmt lint packages images release

## deps: install the C/C++ toolchain pieces RocksDB needs (g++, libclang-dev for bindgen)
deps:
	@command -v $(CARGO) >/dev/null 2>&1 || { echo "cargo is missing: install Rust with rustup (https://rustup.rs), then run make again" >&2; exit 1; }
	@missing=""; \
	command -v c++ >/dev/null 2>&1 || missing="$$missing g++"; \
	command -v make >/dev/null 2>&1 || missing="$$missing make"; \
	if ! dpkg -s libclang-dev >/dev/null 2>&1 && [ -z "$$LIBCLANG_PATH" ]; then missing="$$missing libclang-dev"; fi; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing:$$missing; run: sudo apt-get install -y$$missing" >&2; exit 1; \
	  fi; \
	fi

# kubernetes-validate's version: its schemas of Kubernetes 1.35 check deploy/kubernetes
KUBERNETES_VALIDATE := 1.37.0

## test-peers: the real peers tests need: blackbox_exporter (compared with the agent's probes,
## scraped by an agent), node_exporter (scraped by an agent), Alertmanager (receives the
## regions' alerts), Prometheus (answers the same PromQL as Strata, remote-writes into a
## region and receives one's), VictoriaMetrics (receives a region's remote write), chromium
## and chromedriver (the console's browser test), debootstrap (the Debian root the packages
## are installed into), buildah and setcap (the container images), iproute2 (the hosts of
## the multi-host rehearsal); kubernetes-validate from PyPI (the Kubernetes manifests checked
## against the Kubernetes schemas)
test-peers:
	@missing=""; \
	command -v prometheus-blackbox-exporter >/dev/null 2>&1 || missing="$$missing prometheus-blackbox-exporter"; \
	command -v prometheus-node-exporter >/dev/null 2>&1 || missing="$$missing prometheus-node-exporter"; \
	command -v victoria-metrics >/dev/null 2>&1 || missing="$$missing victoria-metrics"; \
	[ -x /usr/bin/prometheus-alertmanager ] || missing="$$missing prometheus-alertmanager"; \
	[ -x /usr/bin/prometheus ] || missing="$$missing prometheus"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -x /usr/bin/chromedriver ] || missing="$$missing chromium-driver"; \
	command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing="$$missing debootstrap"; \
	command -v buildah >/dev/null 2>&1 || missing="$$missing buildah"; \
	command -v ip >/dev/null 2>&1 || missing="$$missing iproute2"; \
	python3 -m pip --version >/dev/null 2>&1 || missing="$$missing python3-pip"; \
	[ -x /usr/sbin/setcap ] || missing="$$missing libcap2-bin"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing:$$missing; run: sudo apt-get install -y$$missing" >&2; exit 1; \
	  fi; \
	fi
	@if [ "$$(python3 -m kubernetes_validate --version 2>/dev/null)" != "$(KUBERNETES_VALIDATE)" ]; then \
	  pip="python3 -m pip install -q kubernetes-validate==$(KUBERNETES_VALIDATE)"; \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing: kubernetes-validate $(KUBERNETES_VALIDATE)"; \
	    $$pip 2>/dev/null || $$pip --break-system-packages; \
	  else \
	    echo "missing: kubernetes-validate $(KUBERNETES_VALIDATE); run: sudo $$pip" >&2; exit 1; \
	  fi; \
	fi

## build: every binary (debug profile, shared with the tests)
build: deps
	$(CARGO) build --workspace --bins

## run: build, then start a whole local mesh and print the console URL (Ctrl-C stops it)
run: build
	./target/debug/strata up $(UP_ARGS)

## test: formatting, lints and every test, as CI runs them
test: deps test-peers
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace

## release: the release build of every binary, the agent as shipped (profile `agent`:
## whole-program optimised, for a smaller resident size on every host) copied beside them
release: deps
	$(CARGO) build --release --workspace --bins
	$(CARGO) build --profile agent -p strata-agent
	cp target/agent/strata-agent target/release/strata-agent

## bench: benchmarks in release mode, peers included when installed (not part of CI)
## BENCH_ARGS passes options to `strata bench tsdb`, e.g. BENCH_ARGS="--hosts 50 --json".
BENCH_ARGS ?=
bench: release
	$(CARGO) bench -p strata-tsdb --bench tsdb --bench codec
	./target/release/strata bench tsdb $(BENCH_ARGS)

## bench-all: every bench at its published size (about an hour here; installs the peers it
## compares with when missing and running as root), written into docs/performance.json,
## docs/performance.md and the README's headline table (not part of CI)
bench-all: release
	./target/release/strata bench all

## packages: the Debian packages of every role and the CLI, from a release build, into
## target/debian (deploy/debian/build-packages; docs/deploying.md)
packages: release
	deploy/debian/build-packages target/release target/debian

## images: the container images (strata and strata-<role>), from a release build, with
## buildah (deploy/container/build-image; docs/deploying.md)
images: release
	deploy/container/build-image target/release

fmt:
	$(CARGO) fmt --all
