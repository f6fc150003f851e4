#!/usr/bin/env bash
# Builds a bare Debian 12 (bookworm) root at DEST_DIR/root, with curl and
# ca-certificates and nothing of homelab-cmd: a machine as the dashboard's
# install line finds it. systemd is not running in it (it is a chroot), which is
# the case the install script handles by starting the agent in the background.
#
#   scripts/sandbox/make-bare-host.sh DEST_DIR        (as root)
#   mount -t proc proc DEST_DIR/root/proc             (the agent reads /proc)
#   chroot DEST_DIR/root sh -c 'curl -fsSL http://127.0.0.1:3000/downloads/install.sh | sh'
#
# Idempotent: every run starts from a fresh copy of a cached base tarball.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { echo "usage: $0 DEST_DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
need_root

mkdir -p "$1"
DEST_DIR="$(cd "$1" && pwd)"
ROOT="$DEST_DIR/root"
[ "$ROOT" != "/root" ] || die "refusing to use / as DEST_DIR"

need_tools
cached_tarball bookworm-apt-curl --include=curl,ca-certificates
fresh_root "$ROOT" "$TARBALL"
