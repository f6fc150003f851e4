# Shared by scripts/run and scripts/test: installs what is missing, idempotently, and
# sets up the environment. Sourced, not run.
#
# Everything is installed from the registries this project allows (Debian's apt,
# crates.io, npm); no build tool downloads anything at build or run time.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

# One cargo target directory outside the checkout, so a fresh clone reuses what an
# earlier build compiled. Override with CARGO_TARGET_DIR.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/homelab-cmd/target}"
# Incremental caches are keyed by the checkout's path: every fresh clone would add
# gigabytes that no later build reads.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# Leptos names each server function's URL after a hash of the crate's directory
# unless this is set. Cargo shares a workspace crate's artifacts between checkouts
# (it fingerprints sources relative to the package), so after a fresh clone built
# into the shared target directory, a build here could pair that clone's bundle with
# this checkout's server: every server function would answer 404. One fixed key for
# every checkout makes the names the same wherever the code was built.
export SERVER_FN_OVERRIDE_KEY="${SERVER_FN_OVERRIDE_KEY:-homelab-cmd}"
export PATH="$HOME/.cargo/bin:$REPO_ROOT/end2end/node_modules/.bin:$PATH"

CARGO_LEPTOS_VERSION=0.3.10

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# A TCP port on loopback that nothing listens on right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# apt packages, installed only when one of them is missing.
ensure_apt() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        log "installing Debian packages: ${missing[*]}"
        if [ "$(id -u)" -ne 0 ]; then
            echo "error: installing ${missing[*]} needs root" >&2
            exit 1
        fi
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
}

# The Rust side: the wasm target, cargo-leptos (built so that it can never download a
# tool) and the wasm-bindgen CLI in exactly the version Cargo.lock pins.
ensure_rust_tools() {
    command -v cargo >/dev/null || { echo "error: cargo not found; install Rust with rustup" >&2; exit 1; }
    if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
        log "adding the wasm32-unknown-unknown target"
        rustup target add wasm32-unknown-unknown
    fi
    if [ "$(cargo leptos --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
        log "installing cargo-leptos $CARGO_LEPTOS_VERSION (no downloads at build time; about 15 minutes the first time)"
        cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --features no_downloads
    fi
    local wbg
    wbg="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)"
    if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wbg" ]; then
        log "installing wasm-bindgen-cli $wbg (matching Cargo.lock)"
        # Not --locked: its own lock file names a yanked webpki-roots for 0.2.130.
        cargo install wasm-bindgen-cli --version "$wbg"
    fi
}

# npm packages for the build (binaryen's wasm-opt) and the browser tests, from the
# committed lock file.
ensure_npm() {
    # Debian's nodejs lacks npm; a NodeSource nodejs brings its own, which the
    # Debian npm package would conflict with.
    command -v npm >/dev/null || ensure_apt nodejs npm
    if ! [ -f end2end/node_modules/.package-lock.json ] \
        || ! cmp -s end2end/package-lock.json end2end/node_modules/.lock-stamp; then
        log "installing npm packages (end2end/)"
        (cd end2end && npm ci --no-audit --no-fund --loglevel=error)
        cp end2end/package-lock.json end2end/node_modules/.lock-stamp
    fi
}

# Builds the server and the WebAssembly bundle, release mode, into target/site: the
# css, js and wasm files are named after a hash of their content (hash-files in
# Cargo.toml). cargo-leptos lists the hashes in hash.txt beside the server
# executable; a copy goes into the site folder, where the server looks first, so the
# folder is complete on its own wherever it is installed (--site-root).
#
# --split: every page is a lazy route (app/src/pages/mod.rs), so its code goes into
# WebAssembly chunks of its own (`split___<page>_route_view_*.wasm`, with the code
# shared by several pages in `chunk_*.wasm`) that a browser loads on first showing
# that page; the main bundle keeps the framework, the router and the header.
# Without --split the main bundle would import chunks that do not exist.
build_site() {
    ensure_apt gzip brotli
    log "building the dashboard (cargo leptos build --release --split)"
    cargo leptos build --release --split
    install -m 0644 "$CARGO_TARGET_DIR/release/hash.txt" target/site/hash.txt
    compress_site target/site
}

# Writes FILE.gz and FILE.br beside every file the browser loads from the site
# folder $1; the server sends them to browsers that accept them. Debian's gzip -9
# and brotli -q 11 rather than cargo-leptos's --precompress, whose gzip is 17 %
# larger on the wasm (docs/BENCHMARKS.md).
compress_site() {
    local file
    find "$1" -type f ! -name '*.gz' ! -name '*.br' ! -name hash.txt -print0 |
        while IFS= read -r -d '' file; do
            gzip -9 -n -k -f -- "$file"
            brotli -q 11 -f -o "$file.br" -- "$file"
        done
}

# A throw-away PostgreSQL cluster for the tests: Debian's postgresql, run as its
# unprivileged `postgres` user, in a fresh directory under /tmp, on a port of its own
# (and a socket in that directory), never the system's cluster. Exports
# HOMELAB_TEST_POSTGRES_URL for the tests (each makes its own database in it) and
# stops and deletes the cluster when the calling script exits.
start_test_postgres() {
    ensure_apt postgresql
    local bin dir port
    bin="$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d | sort -V | tail -1)"
    [ -x "$bin/initdb" ] || { echo "error: no initdb under /usr/lib/postgresql" >&2; exit 1; }
    dir="$(mktemp -d /tmp/homelab-pg.XXXXXX)"
    chown postgres: "$dir"
    runuser -u postgres -- "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 \
        --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    # A free port: the kernel picks one, the cluster takes it a moment later.
    port="$(free_port)"
    # Durability off: the cluster lives for one test run (benchmarks keep it on with
    # HOMELAB_TEST_POSTGRES_DURABLE=1, as a real installation would).
    local durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    [ "${HOMELAB_TEST_POSTGRES_DURABLE:-0}" = 1 ] && durability=""
    runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 $durability -c max_connections=400" \
        start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    export HOMELAB_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
    PG_TEST_STOP="runuser -u postgres -- '$bin/pg_ctl' -D '$dir/data' -m immediate stop >/dev/null 2>&1; rm -rf '$dir'"
    trap 'eval "$PG_TEST_STOP"' EXIT
    log "PostgreSQL test cluster on port $port ($dir)"
}

# --- Packaging: the arm64 cross-build, qemu, cargo-deb (scripts/package) ---

ARM64_TRIPLE=aarch64-unknown-linux-gnu
CARGO_DEB_VERSION=3.8.0
# Debian's cross linker and C compiler (ring's C parts) for the arm64 agent, and
# qemu-user to run what was built.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
# The arm64 C library lives under /usr/aarch64-linux-gnu (libc6-arm64-cross).
QEMU_ARM64=(qemu-aarch64-static -L /usr/aarch64-linux-gnu)

ensure_packaging_tools() {
    ensure_apt gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils-aarch64-linux-gnu \
        qemu-user-static dpkg-dev
    if ! rustup target list --installed | grep -qx "$ARM64_TRIPLE"; then
        log "adding the $ARM64_TRIPLE target"
        rustup target add "$ARM64_TRIPLE"
    fi
    if [ "$(cargo deb --version 2>/dev/null | awk '{print $2}')" != "$CARGO_DEB_VERSION" ]; then
        log "installing cargo-deb $CARGO_DEB_VERSION"
        cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked
    fi
}

# The agent binary for machine type $1 (x86_64 or aarch64), as build_agents made it.
agent_binary() {
    case "$1" in
    x86_64) echo "$CARGO_TARGET_DIR/agent/homelab-agent" ;;
    aarch64) echo "$CARGO_TARGET_DIR/$ARM64_TRIPLE/agent/homelab-agent" ;;
    *) echo "error: no agent build for $1" >&2; return 1 ;;
    esac
}

# The workspace's version (Cargo.toml's [workspace.package]).
workspace_version() {
    awk -F'"' '/^\[workspace.package\]/ { p = 1 } p && /^version = / { print $2; exit }' Cargo.toml
}

# Builds the agent for x86-64 and arm64 (the `agent` profile), and checks the arm64
# one under qemu-user: the release binary runs (`--version`), and the apt parsers'
# tests, built for arm64, pass on the captured apt output of agent/tests/fixtures.
build_agents() {
    log "building the agent (x86_64, and aarch64 with Debian's cross linker)"
    cargo build --profile agent --locked -p homelab-agent
    cargo build --profile agent --locked -p homelab-agent --target "$ARM64_TRIPLE"
    local arm64 version
    arm64="$(agent_binary aarch64)"
    # The ELF header's e_machine (offset 18, little-endian): 0xb7 is AArch64.
    [ "$(od -An -tx1 -j18 -N2 "$arm64" | tr -d ' ')" = b700 ] ||
        { echo "error: $arm64 is not an arm64 program" >&2; exit 1; }
    log "checking the arm64 agent under qemu-user"
    version="$("${QEMU_ARM64[@]}" "$arm64" --version)"
    [ "$version" = "homelab-agent $(workspace_version)" ] ||
        { echo "error: the arm64 agent under qemu said '$version'" >&2; exit 1; }
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="${QEMU_ARM64[*]}" \
        cargo test --locked -p homelab-agent --target "$ARM64_TRIPLE" --lib -- \
        --test-threads 2 apt:: preview::
}
