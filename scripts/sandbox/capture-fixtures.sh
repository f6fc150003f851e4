#!/usr/bin/env bash
# Regenerates the captured apt fixtures in agent/tests/fixtures/apt/ from a
# fresh sandbox, so they stay real apt output rather than hand edits:
#
#   scripts/sandbox/capture-fixtures.sh DEST_DIR        (as root)
#
# The hand-written ubuntu-noble-* fixtures are not touched. DEST_DIR is left
# holding a standard make-host.sh root.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ $# -eq 1 ] || { echo "usage: $0 DEST_DIR" >&2; exit 2; }
need_root
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="$HERE/../../agent/tests/fixtures/apt"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

"$HERE/make-host.sh" "$1"
ROOT="$(cd "$1" && pwd)/root"

in_root apt-get -s upgrade --with-new-pkgs >"$OUT/bookworm-upgrade-sim.txt"
in_root apt-cache policy hl-normal hl-openssl hl-security-tools hl-tzdata hl-held \
    hl-keptback hl-epoch >"$OUT/bookworm-policy.txt"
in_root apt-cache policy >"$OUT/bookworm-policy-sources.txt"
in_root apt-mark showhold >"$OUT/bookworm-showhold.txt"
in_root apt list --upgradable 2>/dev/null >"$OUT/bookworm-upgradable.txt"

# The same version published in two suites: apt prints both origins on one
# Inst line. Not part of the standard sandbox, so it is added, captured, and
# the sandbox rebuilt.
"$HERE/add-package.sh" "$1" bookworm-security hl-normal 1.1-1
in_root apt-get -s upgrade --with-new-pkgs >"$OUT/bookworm-upgrade-sim-multi-origin.txt"
"$HERE/make-host.sh" "$1"

# Know before you approve: what each upgrade kind would remove. A security fix
# whose new version depends on a package that conflicts with an installed one:
# `apt-get upgrade --with-new-pkgs` keeps it back (it never removes anything),
# `apt-get install --only-upgrade` (the security upgrade's command) removes the
# installed package (a `Remv` line). And an ordinary update that pulls in a new
# dependency, which `upgrade --with-new-pkgs` installs.
"$HERE/add-package.sh" "$1" bookworm hl-victim 1.0-1
"$HERE/add-package.sh" "$1" bookworm hl-remover 1.0-1
in_root apt-get install -y -q hl-victim hl-remover >/dev/null
"$HERE/add-package.sh" "$1" bookworm-security hl-remover 1.0-1+deb12u1 "Depends: hl-newdep"
"$HERE/add-package.sh" "$1" bookworm-security hl-newdep 1.0-1 "Conflicts: hl-victim"
in_root apt-get -s install --only-upgrade -y -- hl-remover=1.0-1+deb12u1 \
    hl-openssl=3.0.1-1+deb12u1 >"$OUT/bookworm-security-sim-removing.txt"
"$HERE/add-package.sh" "$1" bookworm-updates hl-newlib 1.0-1
"$HERE/add-package.sh" "$1" bookworm-updates hl-normal 1.2-1 "Depends: hl-newlib"
in_root apt-get -s upgrade --with-new-pkgs -y >"$OUT/bookworm-upgrade-sim-new-dependency.txt"
"$HERE/make-host.sh" "$1"
