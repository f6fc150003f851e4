#!/usr/bin/env bash
# Starts the release build of homelab-cmd on a fresh database for one Playwright run.
set -euo pipefail
port="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
target="${CARGO_TARGET_DIR:-/var/cache/homelab-cmd/target}"
state="$(mktemp -d /tmp/homelab-e2e.XXXXXX)"

export DATABASE_URL="sqlite://$state/homelab.db"
export LEPTOS_SITE_ROOT="$repo/target/site"
export HOMELAB_LISTEN="127.0.0.1:$port"
exec "$target/release/homelab-cmd" serve
