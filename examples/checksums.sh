#!/usr/bin/env bash
# Checksum files found by `find -print0`, whatever their names: spaces,
# quotes, shell syntax and bytes that are not UTF-8 all arrive intact, and
# no file name is ever run as code.
#
#   PARX=target/release/parx examples/checksums.sh
set -euo pipefail
export LC_ALL=C
parx=${PARX:-parx}
# A relative path such as target/release/parx must survive the cd below.
case $parx in */*) parx=$(cd "$(dirname "$parx")" && pwd)/$(basename "$parx") ;; esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

mkdir data
printf 'alpha\n' >data/plain.txt
printf 'two words\n' >'data/with space.txt'
printf 'quote\n' >"data/it's.txt"
printf 'not code\n' >'data/$(touch PWNED).txt'
printf 'latin-1\n' >"data/caf$(printf '\351').txt" # invalid UTF-8 in the name

# One cksum per file, output in input order. `cat -v` shows the byte 0xE9
# as M-i.
find data -type f -print0 | sort -z | "$parx" -0 -k cksum | cat -v

# -X packs as many names into one command line as fit: with one slot, a
# single cksum gets all five. --dry-run shows that command, quoted for sh.
find data -type f -print0 | sort -z | "$parx" -0 -X -j1 --dry-run cksum | cat -v

if [ -e PWNED ]; then echo "a file name ran as code"; else echo "no file name ran as code"; fi
