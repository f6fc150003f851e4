#!/usr/bin/env bash
# Builds a real Debian 12 (bookworm) root at DEST_DIR/root whose apt sees a
# known, fixed set of pending updates, so tests and the demo can run the real
# apt commands the agent runs, without a network and without a VM:
#
#   scripts/sandbox/make-host.sh DEST_DIR        (as root)
#   chroot DEST_DIR/root apt-get -s upgrade --with-new-pkgs
#
# The updates come from a local repository the script builds into
# DEST_DIR/root/srv/repo (file:/srv/repo from inside the root), with the three
# suites a Debian 12 host has: bookworm, bookworm-updates, bookworm-security.
# See README.md next to this file for the packages and what each one exercises.
#
# Idempotent: every run starts from a fresh copy of a cached base tarball, so
# DEST_DIR/root always ends up in the same state whatever was done to it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { echo "usage: $0 DEST_DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
need_root

mkdir -p "$1"
DEST_DIR="$(cd "$1" && pwd)"
ROOT="$DEST_DIR/root"
REPO="$ROOT/srv/repo"
[ "$ROOT" != "/root" ] || die "refusing to use / as DEST_DIR"

# --- tools ------------------------------------------------------------------
if ! command -v mmdebstrap >/dev/null || ! command -v apt-ftparchive >/dev/null ||
    ! command -v dpkg-deb >/dev/null; then
    quiet apt-get update -qq
    quiet apt-get install -y -qq --no-install-recommends mmdebstrap apt-utils dpkg-dev
fi

# --- base tarball (cached) ---------------------------------------------------
# mmdebstrap needs the network and ~20-40 s, so its result is kept across runs
# and DEST_DIRs. Built under a temporary name and renamed into place, so an
# interrupted run never leaves a truncated tarball that later runs would trust;
# the lock keeps two concurrent first runs from both building it.
CACHE_DIR="${HOMELAB_SANDBOX_CACHE:-/var/cache/homelab-cmd/sandbox}"
TARBALL="$CACHE_DIR/bookworm-apt.tar"
mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/.lock"
flock 9
if [ ! -s "$TARBALL" ]; then
    # Leftovers of runs killed too hard for their trap (we hold the lock, so
    # no other run is writing one right now).
    rm -f "$TARBALL".partial.*
    PARTIAL="$TARBALL.partial.$$"
    TMP_PATHS+=("$PARTIAL")
    # --format=tar: mmdebstrap picks the format from the file name otherwise,
    # and would make a directory out of "*.partial".
    quiet mmdebstrap --quiet --format=tar --variant=apt bookworm "$PARTIAL"
    mv -f "$PARTIAL" "$TARBALL"
fi
flock -u 9
exec 9>&-

# --- fresh root --------------------------------------------------------------
# Nothing here mounts anything, but someone may have (e.g. /proc for a manual
# session). Unmount whatever is below the root, deepest first, before deleting
# it; --one-file-system makes rm stop rather than walk into a mount we missed.
if [ -e "$ROOT" ]; then
    findmnt -rn -o TARGET | awk -v r="$ROOT" 'index($0, r "/") == 1 || $0 == r' |
        sort -r | while read -r mnt; do umount "$mnt" || umount -l "$mnt"; done
    rm -rf --one-file-system "$ROOT"
fi
mkdir -p "$ROOT"
tar --numeric-owner -xpf "$TARBALL" -C "$ROOT"

# --- local repository --------------------------------------------------------
# Package table: SUITE NAME VERSION [CONTROL-LINE]. The names are fixed; tests
# depend on them. Each case below is one way real hosts surprise a parser.
build() { build_deb "$REPO" "$@"; }

# Base versions, installed below.
build bookworm hl-normal 1.0-1
build bookworm hl-openssl 3.0.1-1
build bookworm hl-security-tools 2.0-1
build bookworm hl-tzdata 2024a-1
build bookworm hl-held 1.0-1
build bookworm hl-keptback 1.0-1
build bookworm hl-installed-peer 1.0-1
build bookworm hl-epoch 1:1.0-1

# An ordinary update.
build bookworm-updates hl-normal 1.1-1
# A security update.
build bookworm-security hl-openssl 3.0.1-1+deb12u1
# "security" in the name, but from -updates only: not a security update.
build bookworm-updates hl-security-tools 2.1-1
# In both -security and -updates with different versions: the candidate is
# the higher -updates one, the security fix is the lower version.
build bookworm-security hl-tzdata 2024a-1+deb12u1
build bookworm-updates hl-tzdata 2025b-0+deb12u1
# Held with apt-mark below: apt must not upgrade it.
build bookworm-updates hl-held 1.1-1
# The new version needs a new package that conflicts with an installed one.
# `apt-get upgrade` (even --with-new-pkgs) never removes packages, so apt keeps
# hl-keptback back; only full-upgrade would take it (removing the peer).
build bookworm-updates hl-keptback 2.0-1 "Depends: hl-conflicting"
build bookworm-updates hl-conflicting 1.0-1 "Conflicts: hl-installed-peer"
# A security update of a package with an epoch.
build bookworm-security hl-epoch 1:1.0-2

for suite in "${SUITES[@]}"; do index_suite "$REPO" "$suite"; done

# --- apt inside the root -----------------------------------------------------
# Only the local repository: nothing may reach the network, and the results
# must not depend on what the Debian mirrors hold today. trusted=yes because
# the repository is unsigned (signing would need a key per run for nothing).
rm -f "$ROOT/etc/apt/sources.list" "$ROOT"/etc/apt/sources.list.d/*
sources() {
    echo "# Written by homelab-cmd scripts/sandbox/make-host.sh: local repository only."
    local suite
    for suite in "$@"; do echo "deb [trusted=yes] file:/srv/repo $suite main"; done
}

# First only the base suite, so a plain install gets the base versions, the
# way a host looks before updates were published; then all three suites.
BASE_PACKAGES=(hl-normal hl-openssl hl-security-tools hl-tzdata hl-held
    hl-keptback hl-installed-peer hl-epoch)
sources bookworm >"$ROOT/etc/apt/sources.list"
quiet in_root apt-get update
quiet in_root apt-get install -y --no-install-recommends "${BASE_PACKAGES[@]}"

sources "${SUITES[@]}" >"$ROOT/etc/apt/sources.list"
quiet in_root apt-mark hold hl-held
quiet in_root apt-get update
