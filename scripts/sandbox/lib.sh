# shellcheck shell=bash
# Shared by make-host.sh, add-package.sh and capture-fixtures.sh: building dummy .debs and turning
# DEST_DIR/root/srv/repo into a repository apt accepts. Sourced, not run.
# Callers set ROOT (DEST_DIR/root) before calling in_root or suite_fields.

set -euo pipefail

export LANG=C LC_ALL=C DEBIAN_FRONTEND=noninteractive
# Files in the repository and the root must be world-readable: apt fetches
# file: sources as the unprivileged _apt user.
umask 022
# Fixed timestamps inside the .debs, so two runs build byte-identical packages.
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-1735689600}"

die() { echo "sandbox: $*" >&2; exit 1; }

# Temporary files of this run, removed however it ends. Bash skips the EXIT
# trap when a signal kills it, so signals are turned into exits.
TMP_PATHS=()
cleanup_tmp() { if ((${#TMP_PATHS[@]})); then rm -rf "${TMP_PATHS[@]}"; fi; }
trap cleanup_tmp EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

need_root() {
    [ "$(id -u)" -eq 0 ] || die "needs root (chroot, device nodes in the base tarball)"
}

# Runs a command with its output kept in a log; the log is shown only when the
# command fails, so a successful run stays silent but a failure explains itself.
quiet() {
    local log
    log="$(mktemp)"
    TMP_PATHS+=("$log")
    if ! "$@" >"$log" 2>&1; then
        echo "sandbox: failed: $*" >&2
        cat "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
}

# cached_tarball NAME [MMDEBSTRAP-OPTION...]
# Sets TARBALL to a cached tarball of a Debian bookworm root (--variant=apt plus
# the options, e.g. --include=curl), building it first if it is missing.
# mmdebstrap needs the network and ~20-40 s, so its result is kept across runs
# and DEST_DIRs. Built under a temporary name and renamed into place, so an
# interrupted run never leaves a truncated tarball that later runs would trust;
# the lock keeps two concurrent first runs from both building it.
cached_tarball() {
    local name="$1"
    shift
    local cache_dir="${HOMELAB_SANDBOX_CACHE:-/var/cache/homelab-cmd/sandbox}"
    TARBALL="$cache_dir/$name.tar"
    mkdir -p "$cache_dir"
    exec 9>"$cache_dir/.lock"
    flock 9
    if [ ! -s "$TARBALL" ]; then
        # Leftovers of runs killed too hard for their trap (we hold the lock, so
        # no other run is writing one right now).
        rm -f "$TARBALL".partial.*
        local partial="$TARBALL.partial.$$"
        TMP_PATHS+=("$partial")
        # --format=tar: mmdebstrap picks the format from the file name otherwise,
        # and would make a directory out of "*.partial".
        quiet mmdebstrap --quiet --format=tar --variant=apt "$@" bookworm "$partial"
        mv -f "$partial" "$TARBALL"
    fi
    flock -u 9
    exec 9>&-
}

# fresh_root ROOT TARBALL
# Makes ROOT a fresh copy of TARBALL. Nothing here mounts anything, but someone
# may have (e.g. /proc for a manual session): whatever is below the root is
# unmounted, deepest first, before deleting it; --one-file-system makes rm stop
# rather than walk into a mount we missed.
fresh_root() {
    local root="$1" tarball="$2"
    [ "$root" != "/" ] || die "refusing to replace /"
    if [ -e "$root" ]; then
        findmnt -rn -o TARGET | awk -v r="$root" 'index($0, r "/") == 1 || $0 == r' |
            sort -r | while read -r mnt; do umount "$mnt" || umount -l "$mnt"; done
        rm -rf --one-file-system "$root"
    fi
    mkdir -p "$root"
    tar --numeric-owner -xpf "$tarball" -C "$root"
}

# Installs mmdebstrap and the repository tools when one is missing.
need_tools() {
    if ! command -v mmdebstrap >/dev/null || ! command -v apt-ftparchive >/dev/null ||
        ! command -v dpkg-deb >/dev/null; then
        quiet apt-get update -qq
        quiet apt-get install -y -qq --no-install-recommends mmdebstrap apt-utils dpkg-dev
    fi
}

# Runs a command inside the root. Plain chroot, no /proc: apt, dpkg and
# apt-mark work without it for packages that ship no maintainer scripts, and
# not mounting anything means there is nothing to leak or to unmount later.
in_root() {
    chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C LC_ALL=C \
        DEBIAN_FRONTEND=noninteractive "$@"
}

# The suites the repository serves, with the Release fields apt shows in
# `apt-cache policy` (o=, l=, a=, n=, v=) and in the `Label:Version/Suite`
# origin of `apt-get -s` Inst lines. Version follows what Debian itself puts
# in these Release files: the point release for bookworm (taken from the root's
# /etc/debian_version, i.e. the release the base tarball was made from),
# 12-updates and 12. Suite and Codename are both the codename here; the real
# archive says stable-*/oldstable-* in Suite, which changes with every Debian
# release, so nothing should depend on either spelling.
SUITES=(bookworm bookworm-updates bookworm-security)
suite_fields() {
    local point
    point="$(cat "$ROOT/etc/debian_version" 2>/dev/null || echo 12)"
    case "$1" in
        bookworm) echo "Debian Debian bookworm bookworm $point" ;;
        bookworm-updates) echo "Debian Debian bookworm-updates bookworm-updates 12-updates" ;;
        bookworm-security) echo "Debian Debian-Security bookworm-security bookworm-security 12" ;;
        *) die "unknown suite $1 (known: ${SUITES[*]})" ;;
    esac
}

# build_deb REPO SUITE NAME VERSION [CONTROL-LINE...]
# Builds REPO/pool/SUITE/NAME_VERSION_all.deb. Architecture all, so the same
# package works on any host architecture; the only file is a small doc file
# so dpkg has something real to unpack and list.
build_deb() {
    local repo="$1" suite="$2" name="$3" version="$4"
    shift 4
    suite_fields "$suite" >/dev/null
    local work
    work="$(mktemp -d)"
    TMP_PATHS+=("$work")
    # mktemp -d makes a 0700 directory; it becomes the package's "./" entry.
    chmod 0755 "$work"
    mkdir -p "$work/DEBIAN" "$work/usr/share/doc/$name" "$repo/pool/$suite"
    {
        echo "Package: $name"
        echo "Version: $version"
        echo "Architecture: all"
        echo "Maintainer: homelab-cmd sandbox <sandbox@invalid>"
        echo "Section: misc"
        echo "Priority: optional"
        local line
        for line in "$@"; do echo "$line"; done
        echo "Description: homelab-cmd sandbox package $name"
        echo " Dummy package that exists only so apt has real updates to report."
    } >"$work/DEBIAN/control"
    # A maintainer script, when the caller sets POSTINST (its body, run by sh):
    # what a slow, talkative upgrade looks like.
    if [ -n "${POSTINST:-}" ]; then
        printf '#!/bin/sh\nset -e\n%s\n' "$POSTINST" >"$work/DEBIAN/postinst"
        chmod 0755 "$work/DEBIAN/postinst"
    fi
    # Suite-independent content: the same NAME VERSION published in two suites
    # must be the same file, or apt lists them as two different versions
    # instead of one version with two origins.
    echo "$name $version, built by homelab-cmd scripts/sandbox" >"$work/usr/share/doc/$name/README"
    # dpkg-deb names files without the epoch, as the Debian archive does.
    local file="$repo/pool/$suite/${name}_${version#*:}_all.deb"
    quiet dpkg-deb --build --root-owner-group -Zgzip "$work" "$file"
    rm -rf "$work"
}

# index_suite REPO SUITE
# Regenerates dists/SUITE/main/binary-ARCH/Packages{,.gz} and dists/SUITE/Release
# from pool/SUITE. Arch-all packages are listed in the host architecture's
# Packages file (as in the Debian archive), and only that architecture is
# announced, so apt never looks for a binary-all index.
index_suite() {
    local repo="$1" suite="$2" arch
    arch="$(dpkg --print-architecture)"
    local origin label suite_name codename version
    read -r origin label suite_name codename version <<<"$(suite_fields "$suite")"
    local bin="dists/$suite/main/binary-$arch"
    mkdir -p "$repo/$bin" "$repo/pool/$suite"
    # Run from the repository root so Filename: paths are relative to it, which
    # is what apt resolves against the file:/srv/repo base.
    (cd "$repo" && apt-ftparchive packages "pool/$suite" >"$bin/Packages" 2>/dev/null)
    gzip -9nkf "$repo/$bin/Packages"
    # The Release is written elsewhere first: apt-ftparchive hashes every file
    # in the directory and must not see a half-written Release of its own.
    local release
    release="$(mktemp)"
    TMP_PATHS+=("$release")
    apt-ftparchive \
        -o APT::FTPArchive::Release::Origin="$origin" \
        -o APT::FTPArchive::Release::Label="$label" \
        -o APT::FTPArchive::Release::Suite="$suite_name" \
        -o APT::FTPArchive::Release::Codename="$codename" \
        -o APT::FTPArchive::Release::Version="$version" \
        -o APT::FTPArchive::Release::Architectures="$arch" \
        -o APT::FTPArchive::Release::Components=main \
        -o APT::FTPArchive::Release::Description="homelab-cmd sandbox $suite" \
        release "$repo/dists/$suite" >"$release"
    mv "$release" "$repo/dists/$suite/Release"
    chmod 0644 "$repo/dists/$suite/Release"
}
