#!/usr/bin/env bash
# Starts the release build of homelab-cmd on a fresh database for one Playwright run,
# and prepares a sandbox host (a real Debian root with pending updates, see
# scripts/sandbox/) with the release agent inside. The tests start that agent
# themselves, with a token they get from the API, so the fleet starts empty.
# A second, bare root (curl, no agent) is where onboarding.spec.ts runs the
# dashboard's install line. Three more hosts like the first make the small fleet
# that runs.spec.ts patches with a fleet run. One more is the machine reboot.spec.ts
# reboots: its kernel boot id is a file the test rewrites, bind-mounted over
# /proc/sys/kernel/random/boot_id. Facts the tests need go to .state/e2e.json.
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
# What the install line tells agents; the sandbox roots share the host's network.
export HOMELAB_PUBLIC_URL="http://127.0.0.1:$port"
# The agents served for download, as the Debian package serves them: the ones
# `cargo build --profile agent` made for x86_64 and, cross-built, for aarch64
# (./scripts/package builds both; ./scripts/test runs it first).
arm64_agent="$target/aarch64-unknown-linux-gnu/agent/homelab-agent"
[ -f "$arm64_agent" ] || { echo "no $arm64_agent: run ./scripts/package first" >&2; exit 1; }
export HOMELAB_AGENT_BINARY="$target/agent/homelab-agent,$arm64_agent"
# Warnings and errors only: the Playwright report stays readable.
export RUST_LOG="${RUST_LOG:-warn}"

"$repo/scripts/sandbox/make-host.sh" "$state/host"
install -m 0755 "$target/agent/homelab-agent" "$state/host/root/usr/local/bin/homelab-agent"
# The agent reads its metrics from /proc.
mount -t proc proc "$state/host/root/proc"
fleet_roots=()
for name in fleet-a fleet-b fleet-c; do
    "$repo/scripts/sandbox/make-host.sh" "$state/$name" >/dev/null
    install -m 0755 "$target/agent/homelab-agent" "$state/$name/root/usr/local/bin/homelab-agent"
    mount -t proc proc "$state/$name/root/proc"
    fleet_roots+=("\"$state/$name/root\"")
done
"$repo/scripts/sandbox/make-host.sh" "$state/reboot" >/dev/null
install -m 0755 "$target/agent/homelab-agent" "$state/reboot/root/usr/local/bin/homelab-agent"
mount -t proc proc "$state/reboot/root/proc"
cat /proc/sys/kernel/random/boot_id >"$state/reboot/boot_id"
mount --bind "$state/reboot/boot_id" "$state/reboot/root/proc/sys/kernel/random/boot_id"
"$repo/scripts/sandbox/make-bare-host.sh" "$state/bare"
mount -t proc proc "$state/bare/root/proc"
api_token="$("$target/release/homelab-cmd" api-token create e2e)"
printf 'e2e password\n' | "$target/release/homelab-cmd" user add admin >/dev/null
mkdir -p "$here/.state"
cat >"$here/.state/e2e.json" <<JSON
{"root": "$state/host/root", "bareRoot": "$state/bare/root", "fleetRoots": [$(IFS=,; echo "${fleet_roots[*]}")], "rebootRoot": "$state/reboot/root", "bootIdFile": "$state/reboot/boot_id", "apiToken": "$api_token", "user": "admin", "password": "e2e password"}
JSON

# Every process whose root directory is $1: agents the install line started read
# their server from their config, so their command line does not name this run.
pids_in_root() {
    local proc
    for proc in /proc/[0-9]*; do
        if [ "$(readlink "$proc/root" 2>/dev/null)" = "$1" ]; then echo "${proc#/proc/}"; fi
    done
}

cleanup() {
    # Agents the tests started run in the roots: stop them before removing them.
    pkill -f "^/usr/local/bin/homelab-agent --server http://127.0.0.1:$port" 2>/dev/null || true
    local pids
    pids="$(pids_in_root "$state/bare/root")"
    if [ -n "$pids" ]; then
        # shellcheck disable=SC2086 # one pid per word
        kill -TERM $pids 2>/dev/null || true
        for _ in $(seq 50); do
            [ -n "$(pids_in_root "$state/bare/root")" ] || break
            sleep 0.1
        done
        # shellcheck disable=SC2046
        kill -KILL $(pids_in_root "$state/bare/root") 2>/dev/null || true
    fi
    umount "$state/host/root/proc" 2>/dev/null || true
    for name in fleet-a fleet-b fleet-c; do
        umount "$state/$name/root/proc" 2>/dev/null || true
    done
    umount "$state/bare/root/proc" 2>/dev/null || true
    umount "$state/reboot/root/proc/sys/kernel/random/boot_id" 2>/dev/null || true
    umount "$state/reboot/root/proc" 2>/dev/null || true
    rm -rf --one-file-system "$state"
}
trap cleanup EXIT
"$target/release/homelab-cmd" serve &
server=$!
trap 'kill -TERM $server 2>/dev/null' TERM INT
wait "$server"
