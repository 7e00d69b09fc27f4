# Shared by scripts/run and scripts/test: install what is missing, skip what is present.
# Everything comes from the package registries (crates.io, npm, Debian); nothing else is fetched.
# shellcheck shell=bash

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CARGO_LEPTOS_VERSION="0.3.10"
export PATH="$HOME/.cargo/bin:$ROOT/tools/node_modules/.bin:$PATH"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root to run: $*"
  fi
}

APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null || die "cannot install $* without apt-get; install it by hand"
  if [ "$APT_UPDATED" = 0 ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

ensure_rust() {
  command -v cargo >/dev/null || die "cargo is missing: install Rust with rustup first"
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

ensure_cargo_leptos() {
  if ! cargo leptos --version 2>/dev/null | grep -q " $CARGO_LEPTOS_VERSION\$"; then
    say "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 13 minutes, once)"
    cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked
  fi
}

# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly; on PATH, cargo-leptos
# uses it instead of downloading one. Without --locked: the pinned lock asks for a missing crate.
ensure_wasm_bindgen() {
  local want
  want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
  [ -n "$want" ] || die "cannot find the wasm-bindgen version in Cargo.lock"
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $want\$"; then
    say "installing wasm-bindgen-cli $want (about 2 minutes, once)"
    cargo install wasm-bindgen-cli --version "$want"
  fi
}

ensure_node() {
  if ! command -v npm >/dev/null; then
    say "installing Node.js and npm"
    apt_install nodejs npm
  fi
}

# cargo-leptos runs wasm-opt on every release build and would otherwise try to download it.
# binaryen from npm (not Debian's, whose output never hydrates) lands in tools/node_modules/.bin.
ensure_wasm_opt() {
  ensure_node
  if [ ! -x tools/node_modules/.bin/wasm-opt ]; then
    say "installing wasm-opt (binaryen from npm)"
    npm ci --prefix tools --no-audit --no-fund --loglevel=error
  fi
}

ensure_build_tools() {
  ensure_rust
  ensure_cargo_leptos
  ensure_wasm_bindgen
  ensure_wasm_opt
}

ensure_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    say "installing Chromium (Debian's package)"
    apt_install chromium
  fi
}

ensure_playwright() {
  ensure_node
  if [ ! -d end2end/node_modules/@playwright/test ]; then
    say "installing Playwright (without its own browser)"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix end2end --no-audit --no-fund --loglevel=error
  fi
}

# The PostgreSQL tests use the real server on 127.0.0.1:5432; start it if it is installed but down.
ensure_postgres() {
  local url="${THOR_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}"
  if pg_isready -q -d "$url/postgres" 2>/dev/null; then return; fi
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    say "starting PostgreSQL"
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do
      pg_isready -q -d "$url/postgres" 2>/dev/null && return
      sleep 1
    done
  fi
  die "PostgreSQL is not reachable at $url (set THOR_TEST_POSTGRES_URL to one that is)"
}

# The Redis tests use the real server on 127.0.0.1:6379 (the shared hub); start it if it is
# installed but down. It keeps nothing on disk.
ensure_redis() {
  local url="${THOR_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
  if redis-cli -u "$url" ping 2>/dev/null | grep -qx PONG; then return; fi
  if command -v redis-server >/dev/null; then
    say "starting Redis"
    local hostport="${url#redis://}"; hostport="${hostport##*@}"; hostport="${hostport%%/*}"
    redis-server --bind "${hostport%:*}" --port "${hostport##*:}" --save "" --appendonly no \
      --daemonize yes >/dev/null || true
    for _ in $(seq 1 30); do
      redis-cli -u "$url" ping 2>/dev/null | grep -qx PONG && return
      sleep 1
    done
  fi
  die "Redis is not reachable at $url (set THOR_TEST_REDIS_URL to one that is)"
}

# promtool checks and unit-tests the alerting rules (ops/prometheus). Debian ships it in the
# prometheus package; services are kept from starting while it installs (no daemon is left
# running), using the machine's own policy-rc.d if it has one.
ensure_promtool() {
  if command -v promtool >/dev/null; then return; fi
  say "installing promtool (Debian's prometheus package)"
  local policy=/usr/sbin/policy-rc.d added=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod +x "$policy"
    added=1
  fi
  apt_install prometheus || { [ "$added" = 1 ] && as_root rm -f "$policy"; die "cannot install prometheus (for promtool)"; }
  if [ "$added" = 1 ]; then as_root rm -f "$policy"; fi
  command -v promtool >/dev/null || die "the prometheus package brought no promtool"
}
