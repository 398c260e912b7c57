#!/usr/bin/env bash
# Records tests/golden/expected/NNN.{out,status} from GNU parallel for every
# case in tests/golden/cases.txt (see the format at the top of that file).
# Usage: tests/golden/regen.sh   (needs GNU parallel as `parallel`, or $PARALLEL_BIN)
set -euo pipefail
set -f # no globbing when splitting case lines with eval

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cases="$here/cases.txt"
expected="$here/expected"
parallel_bin=${PARALLEL_BIN:-parallel}
work=${GOLDEN_WORKDIR:-/tmp/parx-golden-regen}

export LC_ALL=C
unset PARALLEL PARALLEL_HOME || true

rm -rf "$expected" "$work"
mkdir -p "$expected" "$work/home"

# Fixture files: "FILE name fmt" lines.
fixtures=()
while IFS= read -r line || [[ -n $line ]]; do
    [[ $line =~ ^FILE[[:space:]] ]] || continue
    eval "words=($line)"
    [[ ${#words[@]} -eq 3 ]] || { echo "bad FILE line: $line" >&2; exit 1; }
    fixtures+=("${words[1]}" "${words[2]}")
done <"$cases"

n=0
while IFS= read -r line || [[ -n $line ]]; do
    [[ -z ${line//[[:space:]]/} || $line =~ ^[[:space:]]*# || $line =~ ^FILE[[:space:]] ]] && continue
    n=$((n + 1))
    id=$(printf '%03d' "$n")
    eval "words=($line)"
    stdin_fmt=
    has_stdin=0
    while ((${#words[@]} > 0)); do
        case ${words[0]} in
        STDIN=*) stdin_fmt=${words[0]#STDIN=}; has_stdin=1 ;;
        UNORDERED | STATUSONLY | DIFFERS=*) ;;
        *) break ;;
        esac
        words=("${words[@]:1}")
    done

    dir="$work/case"
    rm -rf "$dir"
    mkdir -p "$dir"
    for ((i = 0; i < ${#fixtures[@]}; i += 2)); do
        printf '%b' "${fixtures[i + 1]}" >"$dir/${fixtures[i]}"
    done
    stdin_file=/dev/null
    if ((has_stdin)); then
        stdin_file="$work/stdin"
        printf '%b' "$stdin_fmt" >"$stdin_file"
    fi

    status=0
    (cd "$dir" && HOME="$work/home" TMPDIR="$dir" PARALLEL_SHELL=sh \
        "$parallel_bin" --will-cite "${words[@]}" <"$stdin_file" >"$expected/$id.out" 2>"$work/stderr") ||
        status=$?
    echo "$status" >"$expected/$id.status"
    printf '%s  status %-3s %s\n' "$id" "$status" "$line"
done <"$cases"

rm -rf "$work"
echo "recorded $n cases into $expected"
