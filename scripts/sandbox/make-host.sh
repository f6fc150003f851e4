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

# --- tools, base tarball (cached), fresh root ----------------------------------
need_tools
cached_tarball bookworm-apt
fresh_root "$ROOT" "$TARBALL"

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
