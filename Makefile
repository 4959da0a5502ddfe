# EZSCALE Workspaces — the two commands: `make run` and `make test`. Both install what is missing first.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export PATH := $(HOME)/.cargo/bin:$(CURDIR)/node_modules/.bin:$(PATH)
# A fixed build directory outside the checkout, so a fresh clone (as CI makes) reuses compiled
# dependencies from earlier runs. The built site stays in ./target/site (cargo-leptos `site-root`).
export CARGO_TARGET_DIR ?= $(HOME)/.cache/ezscale/target
export CARGO_TERM_COLOR ?= always

E2E_DATA := $(CURDIR)/target/e2e-data

.PHONY: help run test tools tools-test own-build fmt fmt-check architecture lint unit e2e bench clean-data

help:
	@echo "make run    build and serve on http://127.0.0.1:3000 (SQLite, Kasm simulator, demo data)"
	@echo "make test   fmt, clippy, unit + integration (SQLite and PostgreSQL), WASM build, Playwright"
	@echo "make bench  dashboard vs static throughput, WASM size, reconcile of 10k workspaces, tenancy at 10k tenants,"
	@echo "           billing run of 1M sessions over 1,000 tenants, customers page over 10k customers"

tools:
	@scripts/bootstrap.sh build

# The shared build directory serves one checkout at a time. Cargo decides whether our own crates are up to
# date by comparing their sources' times with its outputs, so a second checkout whose files are older than
# another checkout's last build would be taken as built and its changes never compiled (a stale WebAssembly
# beside a fresh server fails hydration on every page). When the checkout changes, its crates' sources are
# touched: they are rebuilt, and the dependencies are reused as before.
own-build:
	@mkdir -p "$(CARGO_TARGET_DIR)"
	@if [ "$$(cat "$(CARGO_TARGET_DIR)/.checkout" 2>/dev/null)" != "$(CURDIR)" ]; then \
		echo "own-build: $(CURDIR) builds in $(CARGO_TARGET_DIR) after another checkout: its crates are rebuilt"; \
		find app server frontend -name '*.rs' -exec touch {} +; \
		echo "$(CURDIR)" > "$(CARGO_TARGET_DIR)/.checkout"; \
	fi

tools-test:
	@scripts/bootstrap.sh test

run: tools own-build
	@echo
	@echo "  EZSCALE Workspaces"
	@echo "    house storefront: http://localhost:3000        demo@ezscale.test / demo-password"
	@echo "                                                    other@ezscale.test / other-password"
	@echo "    reseller (acme):  http://acme.localhost:3000   customer@acme.test / customer-password"
	@echo "      its staff:      http://acme.localhost:3000/manage   owner@acme.test / owner-password"
	@echo "    platform admin:   http://admin.localhost:3000/admin   admin@ezscale.test / admin-password"
	@echo "    health:           http://localhost:3000/healthz"
	@echo "    metrics:          http://127.0.0.1:3090/metrics   (operations listener, OPS_ADDR)"
	@echo "    data:             ./data (SQLite, one file per tenant); Kasm: built-in simulator"
	@echo
	# Development is asked for explicitly: without APP_ENV the server is production (no demo data).
	APP_ENV=development cargo leptos serve --release --precompress --split

test: tools-test fmt-check architecture lint unit e2e
	@echo "make test: all green"

fmt:
	cargo fmt --all

fmt-check:
	cargo fmt --all -- --check

# Dependencies point one way: features → backend capabilities → platform, clients → domain.
architecture:
	python3 scripts/check-architecture.py

lint: own-build
	cargo clippy -p app --features ssr -p server --all-targets -- -D warnings
	# The browser side: the app's hydrate build and the frontend entry point, compiled for wasm32.
	cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

# The tests of tenant databases on several servers start a second PostgreSQL cluster (55433, in
# $(SECOND_PG_DIR)) on first use, and those through PgBouncer a PgBouncer in front of each server (56432 and
# 56433); all are stopped when the tests end, passed or not.
SECOND_PG_DIR ?= /tmp/ezs-second-pg
unit: own-build
	scripts/ensure-postgres.sh
	status=0; cargo test -p app --features ssr -p server || status=$$?; \
		scripts/second-postgres.sh stop "$(SECOND_PG_DIR)"; \
		for d in /tmp/ezs-pgbouncer-5432 /tmp/ezs-pgbouncer-55433; do scripts/pgbouncer.sh stop $$d; done; \
		exit $$status

e2e: own-build
	@# Playwright would otherwise test whatever already answers on the fixed port (an older server).
	@if (exec 3<>/dev/tcp/127.0.0.1/3000) 2>/dev/null; then echo "e2e: something already listens on 127.0.0.1:3000; stop it first" >&2; exit 1; fi
	rm -rf "$(E2E_DATA)"
	# A fixed simulator port and a short reconcile interval, so the browser tests can act "inside Kasm"
	# (they hold the simulator's starts to see a page say "Starting"; a start otherwise takes 1 s);
	# a movable clock, so the billing test can reach the end of a period; custom domains checked against the
	# DNS server the reseller test runs (end2end/tests/dns.ts); every browser of the suite signs in from
	# 127.0.0.1, so the per-address attempt limit is raised (the per-account one, which accounts.spec
	# trips on purpose, is not).
	APP_ENV=development DATA_DIR="$(E2E_DATA)" DEMO_DATA=true KASM_SIM_PORT=4010 KASM_SIM_START_DELAY_MS=1000 DNS_SERVER=127.0.0.1:5354 \
		RECONCILE_INTERVAL_MS=1000 TEST_CLOCK=true ATTEMPTS_PER_ADDRESS=100000 cargo leptos end-to-end --release --split

bench: tools-test own-build
	scripts/bench.sh

clean-data:
	rm -rf data "$(E2E_DATA)"
