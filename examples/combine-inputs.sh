#!/usr/bin/env bash
# How input sources combine: every combination (cartesian product) by
# default, paired with --link or :::+, numbered with {#}, and previewed
# with --dry-run.
#
#   PARX=target/release/parx examples/combine-inputs.sh
set -euo pipefail
export LC_ALL=C
parx=${PARX:-parx}
# A relative path such as target/release/parx must survive the cd below.
case $parx in */*) parx=$(cd "$(dirname "$parx")" && pwd)/$(basename "$parx") ;; esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

echo "# cartesian product"
"$parx" -k echo {1}-{2} ::: a b ::: 1 2 3

echo "# --link pairs the sources; the shorter one wraps around"
"$parx" -k --link echo {1}-{2} ::: a b c d ::: 1 2

echo "# :::+ links one source to the one before it"
"$parx" -k echo {1}={2} ::: x y z :::+ 1 2 3

echo "# {#} is the job number, {.} the input without its extension"
printf '%s\n' photo.jpg 'old scan.jpg' | "$parx" -k echo {#}: {} to {.}.png

echo "# --dry-run prints the commands, shell-quoted, and runs nothing"
"$parx" --dry-run convert {} {.}.png ::: photo.jpg 'old scan.jpg' "it's.jpg"
