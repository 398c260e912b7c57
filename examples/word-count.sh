#!/usr/bin/env bash
# Count words in many files at once. Jobs finish in any order; -k prints
# their output in input order anyway, and a slow job does not hold up the
# others.
#
#   PARX=target/release/parx examples/word-count.sh
set -euo pipefail
export LC_ALL=C
parx=${PARX:-parx}
# A relative path such as target/release/parx must survive the cd below.
case $parx in */*) parx=$(cd "$(dirname "$parx")" && pwd)/$(basename "$parx") ;; esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# chapter-01.txt .. chapter-30.txt; chapter N holds N lines of 5 words.
for n in $(seq -w 1 30); do
  for _ in $(seq "$n"); do echo "the quick brown fox jumps"; done >"chapter-$n.txt"
done

# Four jobs at a time; the first job sleeps so that it finishes last.
"$parx" -j4 -k --tag 'case {} in *-01.txt) sleep 0.3;; esac; wc -w <{}' ::: chapter-*.txt \
  | awk -F'\t' '{ gsub(/ /, "", $2); total += $2 } NR <= 3 || NR == 30 { print $1 ": " $2 } END { print "total: " total }'
