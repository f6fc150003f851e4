#!/bin/sh
# Installs homelab-agent on this machine and connects it to the homelab-cmd
# dashboard at @BASE_URL@ (the dashboard wrote that address, and the checksum
# below, into this copy of the script). As root:
#
#   curl -fsSL @BASE_URL@/downloads/install.sh | sh
#
# It asks for the machine's agent token on the terminal (or reads it from
# --token-file FILE): a token on a command line would be readable by every local
# user (ps) and land in the shell history. Then it
#   1. downloads the agent for this machine's type (uname -m) from the dashboard
#      and checks its SHA-256,
#   2. installs it as /usr/local/bin/homelab-agent,
#   3. writes /etc/homelab-agent/token and agent.toml (root only, mode 0600),
#   4. installs, enables and (re)starts the systemd unit homelab-agent; where
#      systemd is not running (a container, a chroot) it starts the agent in the
#      background instead, which does not survive a reboot.
# Running it again updates the agent, the token and the server address and keeps
# every other setting of agent.toml.
#
# Everything happens in main(), called on the last line: a download cut short
# runs nothing.
set -eu

BASE_URL=@BASE_URL_SH@
# The agents the dashboard serves: one line per machine type, `uname -m` and SHA-256.
AGENTS=@AGENTS@

BIN=/usr/local/bin/homelab-agent
CONF_DIR=/etc/homelab-agent
CONF=$CONF_DIR/agent.toml
TOKEN_FILE=$CONF_DIR/token
UNIT=/etc/systemd/system/homelab-agent.service
STATE_DIR=/var/lib/homelab-agent
PID_FILE=/run/homelab-agent.pid
LOG_FILE=/var/log/homelab-agent.log
HEADER='# Written by the homelab-cmd installer: it rewrites server and token_file, and keeps the rest.'

say() { printf 'homelab-agent: %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

usage() {
    cat <<'USAGE'
usage: install.sh [--token-file FILE]
Installs homelab-agent and connects it to the dashboard this script came from.
The agent token is asked for on the terminal unless --token-file names a file
holding it.
USAGE
}

# fetch URL FILE: curl, or wget where there is no curl.
fetch() {
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL --proto '=http,https' -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -q -O "$2" "$1"
    else
        die "needs curl or wget (apt-get install curl)"
    fi
}

# The token, from --token-file or typed (pasted) on the terminal without echo.
# Never from stdin: under `curl ... | sh` stdin is this script.
read_token() {
    token=
    if [ -n "$1" ]; then
        [ -r "$1" ] || die "cannot read the token file $1"
        IFS= read -r token <"$1" || [ -n "$token" ] || die "the token file $1 is empty"
    else
        if ! { : </dev/tty; } 2>/dev/null; then
            die "no terminal to ask for the agent token on: put it in a file (mode 0600) and run again with --token-file FILE"
        fi
        # Echo off before the prompt: whatever is typed after it stays off the screen.
        trap 'stty echo </dev/tty 2>/dev/null; exit 130' INT TERM
        stty -echo </dev/tty 2>/dev/null || true
        printf 'Paste the agent token (hca_..., shown once in the dashboard; it is not echoed): ' >/dev/tty
        IFS= read -r token </dev/tty || true
        stty echo </dev/tty 2>/dev/null || true
        printf '\n' >/dev/tty
    fi
    # A paste may carry spaces or a carriage return around the token.
    token=$(printf '%s' "$token" | tr -d '[:space:]')
    case ${token#hca_} in
    "$token" | *[!0-9a-f]* | "") die "that is not an agent token: it looks like hca_ and 64 hex digits" ;;
    esac
    [ ${#token} -eq 68 ] || die "that is not an agent token: it looks like hca_ and 64 hex digits"
}

# replace TMP DEST MODE: moves TMP over DEST atomically, root-owned, with MODE.
replace() {
    chown root:root "$1"
    chmod "$3" "$1"
    mv -f "$1" "$2"
}

write_config() {
    rm -f "$CONF.new"
    {
        printf '%s\n' "$HEADER"
        printf 'server = "%s"\n' "$BASE_URL"
        printf 'token_file = "%s"\n' "$TOKEN_FILE"
        if [ -f "$CONF" ]; then
            # Every other line stays: allowed_actions, allowed_units, comments. The
            # agent's config has no tables, so the keys above may come first.
            grep -v -E '^[[:space:]]*(server|token|token_file)[[:space:]]*=|^# Written by the homelab-cmd installer' "$CONF" || true
        else
            printf '%s\n' \
                '' \
                '# What the dashboard may ask this machine to do (leave a type out to refuse it),' \
                '# and which units it may restart; see the README of homelab-cmd.' \
                '#   allowed_actions = ["apt_update", "apt_upgrade_all", "apt_upgrade_security", "restart_service", "clear_logs"]' \
                '#   allowed_units = ["nginx.service", "docker*.service"]'
        fi
    } >"$CONF.new"
    replace "$CONF.new" "$CONF" 0600
}

write_unit() {
    rm -f "$UNIT.new"
    cat >"$UNIT.new" <<'HOMELAB_AGENT_UNIT'
@UNIT_FILE@
HOMELAB_AGENT_UNIT
    replace "$UNIT.new" "$UNIT" 0644
}

# Stops an agent an earlier run started in the background (never another process:
# the pid must still be homelab-agent).
stop_background_agent() {
    [ -f "$PID_FILE" ] || return 0
    pid=$(cat "$PID_FILE")
    case $pid in "" | *[!0-9]*) rm -f "$PID_FILE"; return 0 ;; esac
    case $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true) in
    "$BIN "*)
        say "stopping the agent started earlier (pid $pid); a running action finishes first"
        kill "$pid" 2>/dev/null || true
        n=0
        while kill -0 "$pid" 2>/dev/null; do
            n=$((n + 1))
            [ "$n" -le 600 ] || die "the earlier agent (pid $pid) did not stop within 10 minutes"
            sleep 1
        done
        ;;
    esac
    rm -f "$PID_FILE"
}

start_background_agent() {
    stop_background_agent
    install -d -m 0700 -o root -g root "$STATE_DIR"
    # Its own session: it outlives this shell and the terminal closing.
    if command -v setsid >/dev/null 2>&1; then
        setsid "$BIN" --config "$CONF" </dev/null >>"$LOG_FILE" 2>&1 &
    else
        nohup "$BIN" --config "$CONF" </dev/null >>"$LOG_FILE" 2>&1 &
    fi
    pid=$!
    printf '%s\n' "$pid" >"$PID_FILE"
    sleep 2
    if ! kill -0 "$pid" 2>/dev/null; then
        tail -n 20 "$LOG_FILE" >&2 || true
        die "the agent stopped at once (above: the end of $LOG_FILE)"
    fi
    say "started the agent in the background (pid $pid, log $LOG_FILE)"
}

main() {
    token_source=
    while [ $# -gt 0 ]; do
        case $1 in
        --token-file)
            [ $# -ge 2 ] || die "--token-file needs a file name"
            token_source=$2
            shift 2
            ;;
        --token-file=*)
            token_source=${1#*=}
            shift
            ;;
        -h | --help)
            usage
            return 0
            ;;
        *) die "unknown option $1 (see --help)" ;;
        esac
    done

    [ "$(id -u)" -eq 0 ] || die "run this as root (for example after sudo -i)"
    machine=$(uname -m)
    expected=$(printf '%s\n' "$AGENTS" | while read -r arch sha; do
        if [ "$arch" = "$machine" ]; then printf '%s' "$sha"; fi
    done)
    if [ -z "$expected" ]; then
        served=$(printf '%s\n' "$AGENTS" | while read -r arch sha; do printf '%s ' "$arch"; done)
        die "this dashboard serves agents for ${served% }, and this machine is $machine: build homelab-agent for it and install it by hand (see the README)"
    fi

    # Everything created from here on is root's alone until chmod says otherwise;
    # the token is never in a file anyone else could open, not even for a moment.
    umask 077
    read_token "$token_source"

    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    # $machine is one of the names in $AGENTS (checked above): a plain word.
    url="$BASE_URL/downloads/agents/$machine/homelab-agent"
    say "downloading the agent for $machine from $BASE_URL"
    fetch "$url" "$tmp/homelab-agent" || die "cannot download $url"
    sum=$(sha256sum "$tmp/homelab-agent")
    sum=${sum%% *}
    [ "$sum" = "$expected" ] ||
        die "the download's SHA-256 is $sum, expected $expected: nothing was installed (if the dashboard was just upgraded, run the install line again)"
    say "checksum OK ($expected)"

    install -d -m 0755 /usr/local/bin
    # Beside it, then renamed over it: a running agent keeps its old file.
    install -m 0755 -o root -g root "$tmp/homelab-agent" "$BIN.new"
    mv -f "$BIN.new" "$BIN"

    install -d -m 0700 -o root -g root "$CONF_DIR"
    chmod 0700 "$CONF_DIR"
    rm -f "$TOKEN_FILE.new"
    printf '%s\n' "$token" >"$TOKEN_FILE.new"
    replace "$TOKEN_FILE.new" "$TOKEN_FILE" 0600
    write_config
    say "wrote $CONF and $TOKEN_FILE"

    if command -v systemctl >/dev/null 2>&1; then
        install -d -m 0755 /etc/systemd/system
        write_unit
    fi
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        stop_background_agent
        systemctl daemon-reload
        systemctl enable --quiet homelab-agent.service
        # restart, not start: a second run must pick up the new binary and token.
        systemctl restart homelab-agent.service
        say "the systemd unit homelab-agent is enabled and running (journalctl -u homelab-agent)"
    else
        if command -v systemctl >/dev/null 2>&1; then
            systemctl enable --quiet homelab-agent.service 2>/dev/null || true
        fi
        say "systemd is not running here (a container or a chroot?): starting the agent without it"
        start_background_agent
    fi
    say "done: this machine appears as Online in the dashboard ($BASE_URL/) within a heartbeat"
}

main "$@"
