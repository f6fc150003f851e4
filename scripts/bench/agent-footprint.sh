#!/usr/bin/env bash
# The agent's footprint (docs/BENCHMARKS.md): the `agent` build against a
# homelab-cmd on a fresh database, scanning this machine's own apt state (read-only:
# `apt-get -s`, `apt-cache policy`, `apt-mark showhold`). Prints the CPU its start-up
# scan took (its own and its apt children's), then its RSS and CPU while idle,
# heartbeating every 5 s, sampled for $1 seconds (default 60).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
cd "$REPO_ROOT"
seconds="${1:-60}"
cargo build --quiet --locked -p homelab-server
cargo build --quiet --locked --profile agent -p homelab-agent
server="$CARGO_TARGET_DIR/debug/homelab-cmd"
agent="$CARGO_TARGET_DIR/agent/homelab-agent"

dir="$(mktemp -d /tmp/homelab-agent-bench.XXXXXX)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
export DATABASE_URL="sqlite://$dir/homelab.db"
port="$(free_port)"
(umask 077; "$server" server add bench "Bench" 2>/dev/null | grep -o 'hca_[A-Za-z0-9_-]*' >"$dir/token")
RUST_LOG=info "$server" serve --listen "127.0.0.1:$port" --heartbeat-interval 5 >"$dir/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
mkdir -m 0700 "$dir/state"
RUST_LOG=warn "$agent" --server "http://127.0.0.1:$port" --token-file "$dir/token" --state-dir "$dir/state" \
    >"$dir/agent.log" 2>&1 &
agent_pid=$!
pids+=("$agent_pid")

ticks="$(getconf CLK_TCK)"
# The agent's own CPU in ms from schedstat (nanoseconds on a CPU); its children's
# (apt's) from fields 16-17 of stat, cutime and cstime, in clock ticks.
cpu() {
    local own children
    own="$(awk '{printf "%.1f", $1/1e6}' "/proc/$agent_pid/schedstat")"
    children="$(awk -v t="$ticks" '{printf "%.0f", ($16+$17)*1000/t}' "/proc/$agent_pid/stat")"
    echo "$own $children"
}
rss() { awk '/^VmRSS/{print $2}' "/proc/$agent_pid/status"; }

# The start-up scan is done when the server holds the machine's package list.
for _ in $(seq 300); do
    grep -q "package list changed" "$dir/server.log" 2>/dev/null && break
    sleep 0.1
    if ! kill -0 "$agent_pid" 2>/dev/null; then echo "the agent stopped:"; cat "$dir/agent.log"; exit 1; fi
done
read -r own children < <(cpu)
echo "start-up with its first scan: ${own} ms CPU in the agent, ${children} ms in apt"
peak=0
for _ in $(seq "$seconds"); do
    sleep 1
    r="$(rss)"; [ "$r" -gt "$peak" ] && peak="$r"
done
read -r own2 _ < <(cpu)
awk -v a="$own" -v b="$own2" -v s="$seconds" -v r="$(rss)" -v p="$peak" 'BEGIN {
    printf "idle for %d s (heartbeat every 5 s): RSS %d kB (peak %d kB), CPU %.1f ms (%.3f %% of one core)\n",
        s, r, p, b - a, (b - a) / (s * 10) }'
