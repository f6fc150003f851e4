#!/usr/bin/env bash
# Starts the release build of homelab-cmd on a fresh database for one Playwright run,
# and prepares a sandbox host (a real Debian root with pending updates, see
# scripts/sandbox/) with the release agent inside. The tests start that agent
# themselves, with a token they get from the API, so the fleet starts empty.
# Facts the tests need go to .state/e2e.json.
set -euo pipefail
port="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
target="${CARGO_TARGET_DIR:-/var/cache/homelab-cmd/target}"
state="$(mktemp -d /tmp/homelab-e2e.XXXXXX)"

export DATABASE_URL="sqlite://$state/homelab.db"
export LEPTOS_SITE_ROOT="$repo/target/site"
export HOMELAB_LISTEN="127.0.0.1:$port"
export HOMELAB_HEARTBEAT_INTERVAL=2
# Warnings and errors only: the Playwright report stays readable.
export RUST_LOG="${RUST_LOG:-warn}"

"$repo/scripts/sandbox/make-host.sh" "$state/host"
install -m 0755 "$target/release/homelab-agent" "$state/host/root/usr/local/bin/homelab-agent"
# The agent reads its metrics from /proc.
mount -t proc proc "$state/host/root/proc"
api_token="$("$target/release/homelab-cmd" api-token create e2e)"
printf 'e2e password\n' | "$target/release/homelab-cmd" user add admin >/dev/null
mkdir -p "$here/.state"
cat >"$here/.state/e2e.json" <<JSON
{"root": "$state/host/root", "apiToken": "$api_token", "user": "admin", "password": "e2e password"}
JSON

cleanup() {
    # Agents the tests started run in the root: stop them before removing it.
    pkill -f "^/usr/local/bin/homelab-agent --server http://127.0.0.1:$port" 2>/dev/null || true
    umount "$state/host/root/proc" 2>/dev/null || true
    rm -rf --one-file-system "$state"
}
trap cleanup EXIT
"$target/release/homelab-cmd" serve &
server=$!
trap 'kill -TERM $server 2>/dev/null' TERM INT
wait "$server"
