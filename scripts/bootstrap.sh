#!/usr/bin/env bash
# Installs, idempotently, every tool the build and the tests need on a fresh Debian machine.
# Each step checks first, so a warm machine pays nothing. Versions are pinned here and in Cargo.lock.
#   scripts/bootstrap.sh build   - what `make run` needs (wasm target, cargo-leptos, wasm-bindgen, npm tools)
#   scripts/bootstrap.sh test    - the above plus Chromium, Playwright, wrk and a PostgreSQL server
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.10
what="${1:-build}"

log() { printf '\033[1;34m[bootstrap]\033[0m %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

export PATH="$HOME/.cargo/bin:$PATH"

# The two cargo-installed tools are built once per machine and only drive the build (the heavy lifting is
# rustc, wasm-opt and tailwind), so their own speed hardly matters but their compile time does: cargo-leptos
# with its release profile (fat LTO, one codegen unit, full optimisation) takes ~15 minutes on 2 cores,
# most of it optimising swc and lightningcss; light optimisation (level 1) compiles much faster and still runs
# wasm-bindgen's processing at a usable speed. Profile settings from the environment override the package's
# manifest, for these installs only.
fast_install() {
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=false cargo install "$@"
}

if ! rustup target list --installed | grep -q wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen's CLI must equal the library version locked in Cargo.lock, or the build fails late.
want_wb=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock)
have_wb=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have_wb" != "$want_wb" ]; then
  log "installing wasm-bindgen-cli $want_wb (have: ${have_wb:-none}); a few minutes"
  # Not --locked: one locked dependency of this release is missing from the registry index.
  fast_install wasm-bindgen-cli --version "$want_wb" --force
fi

if [ "$(cargo leptos --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
  log "installing cargo-leptos $CARGO_LEPTOS_VERSION; a few minutes, once per machine"
  fast_install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --force
fi

# The server compiles the invoice fonts in from node_modules (app/build.rs names them), so `make run` needs them too.
if [ ! -x node_modules/.bin/tailwindcss ] || [ ! -f node_modules/@expo-google-fonts/noto-sans-kr/LICENSE_FONT ] \
  || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci (tailwindcss, binaryen, the invoice fonts)"
  npm ci --no-audit --no-fund --loglevel=error
fi

if [ "$what" = test ]; then
  if [ ! -x /usr/bin/chromium ]; then log "installing Debian's chromium"; apt_install chromium; fi
  if ! command -v wrk >/dev/null; then log "installing wrk"; apt_install wrk; fi
  if ! command -v brotli >/dev/null; then log "installing brotli"; apt_install brotli; fi
  # The invoice PDF test reads our PDFs back with a real reader.
  if ! command -v pdftotext >/dev/null; then log "installing poppler-utils"; apt_install poppler-utils; fi
  # The tests through a transaction-mode pooler start their own PgBouncer (scripts/pgbouncer.sh).
  if [ ! -x /usr/sbin/pgbouncer ]; then log "installing pgbouncer"; apt_install pgbouncer; fi
  if [ ! -d end2end/node_modules/@playwright/test ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
    log "npm ci in end2end (@playwright/test)"
    (cd end2end && npm ci --no-audit --no-fund --loglevel=error)
  fi
  scripts/ensure-postgres.sh
fi
