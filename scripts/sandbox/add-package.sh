#!/usr/bin/env bash
# Publishes one more dummy package version into a sandbox made by make-host.sh,
# so a test can make an update appear (or change) while the host is running:
#
#   scripts/sandbox/add-package.sh [--index-only] DEST_DIR SUITE NAME VERSION [CONTROL-LINE...]
#   scripts/sandbox/add-package.sh /tmp/sb bookworm-security hl-normal 1.1-1
#   scripts/sandbox/add-package.sh /tmp/sb bookworm-updates hl-new 1.0-1 "Depends: hl-normal"
#
# SUITE is bookworm, bookworm-updates or bookworm-security. The suite's indices
# are regenerated and `apt-get update` is run inside the root, so the next apt
# command there sees the new version; with --index-only it is not, so the new
# version appears only after the next `apt-get update` (the dashboard's "Refresh
# package list"). POSTINST=BODY in the environment gives the package a postinst
# script. Nothing is installed. Needs root.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

update=1
if [ "${1:-}" = "--index-only" ]; then update=0; shift; fi
[ $# -ge 4 ] || { sed -n '5,7s/^# *//p' "$0" >&2; exit 2; }
need_root

ROOT="$(cd "$1" && pwd)/root"
REPO="$ROOT/srv/repo"
SUITE="$2" NAME="$3" VERSION="$4"
shift 4
[ -d "$REPO/dists" ] || die "$REPO is not a sandbox repository; run make-host.sh first"

build_deb "$REPO" "$SUITE" "$NAME" "$VERSION" "$@"
index_suite "$REPO" "$SUITE"
if [ "$update" = 1 ]; then quiet in_root apt-get update; fi
