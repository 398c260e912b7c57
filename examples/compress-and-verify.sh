#!/usr/bin/env bash
# Compress files in parallel, check every archive against its original, and
# show that parx's exit status counts the jobs that failed.
#
#   examples/compress-and-verify.sh          # uses parx from $PATH
#   PARX=target/release/parx examples/compress-and-verify.sh
set -euo pipefail
export LC_ALL=C
parx=${PARX:-parx}
# A relative path such as target/release/parx must survive the cd below.
case $parx in */*) parx=$(cd "$(dirname "$parx")" && pwd)/$(basename "$parx") ;; esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# Six text files of different sizes; one name has spaces and parentheses.
for i in 1 2 3 4 5; do
  seq $((i * 20000)) >"log-$i.txt"
done
seq 1000 >"notes (final).txt"

# No replacement string: the file name is appended, one gzip per file,
# one job per CPU at a time. -k keeps the originals.
"$parx" gzip -k ::: *.txt

# A shell pipeline per file. --tag prefixes each output line with the input,
# -k prints the results in input order.
"$parx" -k --tag 'gzip -dc {}.gz | cmp -s - {} && echo ok' ::: *.txt

# Damage one archive: the check fails for that job only, and parx exits
# with the number of failed jobs (here 1).
head -c 100 log-3.txt.gz >broken.gz && mv broken.gz log-3.txt.gz
status=0
"$parx" 'gzip -dc {}.gz 2>/dev/null | cmp -s - {}' ::: *.txt || status=$?
echo "failed jobs after damaging log-3.txt.gz: $status"
