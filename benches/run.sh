#!/usr/bin/env bash
# benches/run.sh: parx against a posix_spawn floor, GNU xargs, GNU parallel and
# (optionally) rust-parallel, all measured in this one run. See BENCHMARKS.md.
#
#   bash benches/run.sh                  full run (about 6 minutes on 2 cores)
#   BENCH_QUICK=1 bash benches/run.sh    one round, for a smoke test
#
# Environment:
#   BENCH_QUICK=1          fewer rounds (ratios are then noisier)
#   BENCH_ROUNDS=N         measured rounds per scenario (default 3, quick 1)
#   BENCH_RUST_PARALLEL=1  `cargo install --locked rust-parallel` when it is missing
#                          (rust-parallel is used whenever it is on PATH or in ~/.cargo/bin)
#   BENCH_PARX=PATH        benchmark this parx binary instead of building the work tree
#   BENCH_OUT=FILE         where the markdown report goes (default target/bench/results.md)
#   BENCH_KEEP=1           keep the temp dir with the hyperfine JSON exports
#   BENCH_ONLY="pipe scale"  run only these scenarios (trivial keep-order bulk
#                          packing latency startup scale pipe ssh; ssh needs root)
#
# Method: every scenario runs in rounds; a round is one hyperfine call with every
# runner once (or RUNS times), the order rotated from round to round, so slow
# drifts of this noisy machine hit all runners alike. Round 0 is a warm-up and is
# not reported. The report takes the median of all samples of each runner and
# divides by the baseline's median from the same run. hyperfine runs with
# --shell=none (no shell start-up to subtract), output to /dev/null, inputs come
# from files (`-a FILE`, or `-i FILE` for rust-parallel).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=${BENCH_QUICK:-0}
if [[ $QUICK == 1 ]]; then ROUNDS=${BENCH_ROUNDS:-1}; else ROUNDS=${BENCH_ROUNDS:-3}; fi
OUT=${BENCH_OUT:-$ROOT/target/bench/results.md}
T=$(mktemp -d "${TMPDIR:-/tmp}/parx-bench.XXXXXX")
if [[ ${BENCH_KEEP:-0} == 1 ]]; then
    trap 'echo "bench: kept $T" >&2' EXIT
else
    trap 'rm -rf "$T"' EXIT
fi
mkdir -p "$T/json" "$(dirname "$OUT")"
log() { printf '\n== %s\n' "$*" >&2; }
START=$SECONDS

# ---------------------------------------------------------------- tools
SUDO=
if [[ $(id -u) != 0 ]]; then SUDO=sudo; fi
apt_install() { # apt_install PACKAGE...: install, refreshing the index only if that fails
    log "installing $*"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2 ||
        { $SUDO apt-get update -q >&2 &&
            $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2; }
}
command -v hyperfine >/dev/null || apt_install hyperfine
command -v parallel >/dev/null || apt_install parallel
[[ -x /usr/bin/time ]] || apt_install time
command -v cc >/dev/null || apt_install gcc
command -v python3 >/dev/null || apt_install python3
command -v xargs >/dev/null || apt_install findutils

RUST_PARALLEL=$(command -v rust-parallel || true)
if [[ -z $RUST_PARALLEL && -x $HOME/.cargo/bin/rust-parallel ]]; then
    RUST_PARALLEL=$HOME/.cargo/bin/rust-parallel
fi
if [[ -z $RUST_PARALLEL && ${BENCH_RUST_PARALLEL:-0} == 1 ]]; then
    log "cargo install --locked rust-parallel (takes a few minutes)"
    cargo install --locked rust-parallel >&2
    RUST_PARALLEL=$HOME/.cargo/bin/rust-parallel
fi
[[ -n $RUST_PARALLEL ]] || log "rust-parallel not found: its rows are skipped (BENCH_RUST_PARALLEL=1 installs it)"

# ---------------------------------------------------------------- builds
if [[ -n ${BENCH_PARX:-} ]]; then
    PARX=$BENCH_PARX
    PARX_FROM="BENCH_PARX=$PARX"
else
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release --quiet >&2)
    PARX=$ROOT/target/release/parx
    PARX_FROM="built from the work tree at git $(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)"
fi
FLOOR=$T/floor
cc -O2 -pthread -o "$FLOOR" "$ROOT/benches/floor.c"
PAR="parallel --will-cite"
RP=$RUST_PARALLEL

# ---------------------------------------------------------------- inputs
touch "$T/extra.tsv" "$T/rows.tsv"
seq 5000 >"$T/seq5000"
seq 200000 >"$T/seq200k"
seq 10000 >"$T/seq10k"
seq 1000000 >"$T/seq1M"
echo 1 >"$T/one"
printf '/dev/zero\n%.0s' 1 2 3 4 >"$T/zero4"
printf '0.05\n%.0s' $(seq 200) >"$T/sleep200"
# One line per execution, holding its argument count.
printf '#!/bin/sh\necho "$#" >> %s/count.log\n' "$T" >"$T/count-args"
chmod +x "$T/count-args"
BULK=268435456 # 256 MiB per job, 4 jobs

# ---------------------------------------------------------------- machine
{
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo), Linux $(uname -r)"
    echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- parx: $("$PARX" --version 2>&1 | head -1), $PARX_FROM"
    echo "- GNU xargs $(xargs --version | head -1 | awk '{print $NF}'), GNU parallel $(parallel --will-cite --version | head -1 | awk '{print $NF}'), rust-parallel $([[ -n $RP ]] && "$RP" --version | awk '{print $NF}' || echo 'not installed'), hyperfine $(hyperfine --version | awk '{print $NF}'), $(cc --version | head -1)"
    echo "- rounds: $ROUNDS measured (+1 warm-up) per scenario; quick=$QUICK"
} >"$T/meta.md"

# ---------------------------------------------------------------- harness
# add SCENARIO NAME ROLE WHY COMMAND: ROLE is base (the ratios' denominator),
# slow (measured in at most SLOW_ROUNDS rounds, never in the warm-up) or run.
NAMES=() CMDS=() ROLES=()
add() {
    NAMES+=("$2") ROLES+=("$3") CMDS+=("$5")
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$T/rows.tsv"
}
# bench SCENARIO RUNS SLOW_ROUNDS: run the rounds for the runners added since
# the last bench, then forget them.
bench() {
    local scen=$1 runs=$2 slow_rounds=$3 n=${#NAMES[@]} r i k args
    [[ $QUICK == 1 ]] && slow_rounds=1
    log "scenario $scen: ${NAMES[*]}"
    for ((r = 0; r <= ROUNDS; r++)); do
        args=()
        for ((k = 0; k < n; k++)); do
            i=$(((k + r) % n))
            if [[ ${ROLES[i]} == slow ]] && ((r == 0 || r > slow_rounds)); then continue; fi
            args+=(-n "${NAMES[i]}" "${CMDS[i]}")
        done
        if ((r == 0)); then
            [[ $QUICK == 1 ]] && continue
            hyperfine -N --style basic -r 1 --export-json "$T/json/warmup.$scen.json" "${args[@]}" >/dev/null
        else
            hyperfine -N --style basic -r "$runs" --export-json "$T/json/$scen.$r.json" "${args[@]}" >&2
        fi
    done
    NAMES=() CMDS=() ROLES=()
}
extra() { printf '%s\t%s\t%s\t%s\n' "$@" >>"$T/extra.tsv"; } # SCENARIO NAME KEY VALUE
# peak_rss OUTFILE CMD...: peak RSS (KiB) of CMD and its reaped children, stdout to OUTFILE.
peak_rss() {
    local out=$1
    shift
    /usr/bin/time -f '%M' -o "$T/time.out" "$@" >"$out"
    tail -n 1 "$T/time.out"
}
want() { [[ -z ${BENCH_ONLY:-} || " $BENCH_ONLY " == *" $1 "* ]]; }
median3() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
REPS=3
[[ $QUICK == 1 ]] && REPS=1

# ---------------------------------------------------------------- 1. trivial
if want trivial; then
S=trivial
add $S floor base "posix_spawnp \`true N\` per line, 2 in flight, children inherit stdout" \
    "$FLOOR -P2 -a $T/seq5000 true"
add $S "floor -t" run "as the floor, but 2 spawner threads, each waiting for its own child" \
    "$FLOOR -t -P2 -a $T/seq5000 true"
add $S "xargs -P2 -n1" run "one \`true N\` per line, 2 in flight, no shell, output inherited" \
    "xargs -P2 -n1 -a $T/seq5000 true"
add $S "GNU parallel" slow "one job per line, -j2, output grouped (its default)" \
    "$PAR -j2 -a $T/seq5000 true"
[[ -n $RP ]] && add $S rust-parallel run "one job per line, -j2, output captured" \
    "$RP -j2 -i $T/seq5000 true"
add $S parx run "one job per line, -j2, output grouped (default; no shell: the command has no shell syntax)" \
    "$PARX -j2 -a $T/seq5000 true"
add $S "parx -u" run "as parx, but ungrouped: children inherit stdout like the floor (no pipes)" \
    "$PARX -j2 -u -a $T/seq5000 true"
add $S "parx --xargs -P2 -n1" run "xargs mode, the same flags as the xargs row" \
    "$PARX --xargs -P2 -n1 -a $T/seq5000 true"
bench $S 1 1

fi

# ---------------------------------------------------------------- 2. keep-order
if want keep-order; then
S=keep-order
add $S "floor (unordered)" base "\`echo N\` per line, 2 in flight, children write straight to stdout in any order" \
    "$FLOOR -P2 -a $T/seq5000 echo"
add $S "floor -t (unordered)" run "as the floor, but 2 spawner threads, each waiting for its own child" \
    "$FLOOR -t -P2 -a $T/seq5000 echo"
add $S "GNU parallel -k" slow "-j2, output captured and printed in input order" \
    "$PAR -j2 -k -a $T/seq5000 echo {}"
[[ -n $RP ]] && add $S "rust-parallel -k" run "-j2, output captured and printed in input order" \
    "$RP -j2 -k -i $T/seq5000 echo"
add $S "parx -k" run "-j2, output captured and printed in input order" \
    "$PARX -j2 -k -a $T/seq5000 echo {}"
for name in parx "GNU parallel" rust-parallel; do
    case $name in
    parx) "$PARX" -j2 -k -a "$T/seq5000" echo {} >"$T/out" ;;
    "GNU parallel") $PAR -j2 -k -a "$T/seq5000" echo {} >"$T/out" ;;
    rust-parallel) [[ -n $RP ]] || continue; "$RP" -j2 -k -i "$T/seq5000" echo >"$T/out" ;;
    esac
    if cmp -s "$T/out" "$T/seq5000"; then v="output = seq 5000"; else v="OUTPUT DIFFERS from seq 5000"; fi
    extra $S "$name -k" check "$v"
done
bench $S 1 1

fi

# ---------------------------------------------------------------- 3. bulk output
if want bulk; then
S=bulk
add $S cat base "the same 1 GiB through one pipe and one copying process into the same sink" \
    "sh -c 'head -c $((4 * BULK)) /dev/zero | cat'"
add $S "floor (passthrough)" run "4 × \`head -c 256MiB /dev/zero\`, 2 in flight, writing straight to the sink (not grouped)" \
    "$FLOOR -P2 -a $T/zero4 head -c $BULK"
add $S "GNU parallel" slow "-j2, grouped (its default: spools to \$TMPDIR)" \
    "$PAR -j2 -a $T/zero4 head -c $BULK"
add $S "GNU parallel -k" slow "-j2, grouped, in input order" \
    "$PAR -j2 -k -a $T/zero4 head -c $BULK"
[[ -n $RP ]] && add $S rust-parallel slow "-j2, grouped (holds each job's output in memory)" \
    "$RP -j2 -i $T/zero4 head -c $BULK"
add $S parx run "-j2, grouped (default)" \
    "$PARX -j2 -a $T/zero4 head -c $BULK"
add $S "parx -k" run "-j2, grouped, in input order" \
    "$PARX -j2 -k -a $T/zero4 head -c $BULK"
bench $S 1 2
log "bulk: peak RSS with /usr/bin/time"
rss_of() { # NAME CMD...
    local name=$1 k v=()
    shift
    for ((k = 0; k < REPS; k++)); do v+=("$(peak_rss /dev/null "$@")"); done
    extra $S "$name" rss_kib "$(printf '%s\n' "${v[@]}" | median3)"
}
rss_of cat sh -c "head -c $((4 * BULK)) /dev/zero | cat"
rss_of parx "$PARX" -j2 -a "$T/zero4" head -c $BULK
rss_of "parx -k" "$PARX" -j2 -k -a "$T/zero4" head -c $BULK
REPS_SAVE=$REPS REPS=1
rss_of "GNU parallel" $PAR -j2 -a "$T/zero4" head -c $BULK
[[ -n $RP ]] && rss_of rust-parallel "$RP" -j2 -i "$T/zero4" head -c $BULK
REPS=$REPS_SAVE
# Byte counts: every runner must deliver all 1 GiB.
for name in parx "parx -k"; do
    flags=-j2
    [[ $name == "parx -k" ]] && flags="-j2 -k"
    # shellcheck disable=SC2086
    bytes=$("$PARX" $flags -a "$T/zero4" head -c $BULK | wc -c)
    extra $S "$name" check "$bytes bytes"
done

fi

# ---------------------------------------------------------------- 4. packing
if want packing; then
S=packing
add $S xargs base "default packing (lines capped at 128 KiB), one command at a time" \
    "xargs -a $T/seq200k $T/count-args"
add $S "xargs -P2" run "default packing, 2 commands at a time" \
    "xargs -P2 -a $T/seq200k $T/count-args"
add $S "GNU parallel -X" slow "-j2, as many arguments per command as its line limit allows (no {}: appended)" \
    "$PAR -j2 -X -a $T/seq200k $T/count-args"
add $S "parx -X" run "-j2, as many arguments per command as fit (no {}: appended)" \
    "$PARX -j2 -X -a $T/seq200k $T/count-args"
add $S "parx --xargs" run "xargs mode, the same flags as the xargs row (packs to the real limit)" \
    "$PARX --xargs -a $T/seq200k $T/count-args"
for name in xargs "xargs -P2" "GNU parallel -X" "parx -X" "parx --xargs"; do
    rm -f "$T/count.log"
    case $name in
    xargs) xargs -a "$T/seq200k" "$T/count-args" ;;
    "xargs -P2") xargs -P2 -a "$T/seq200k" "$T/count-args" ;;
    "GNU parallel -X") $PAR -j2 -X -a "$T/seq200k" "$T/count-args" ;;
    "parx -X") "$PARX" -j2 -X -a "$T/seq200k" "$T/count-args" ;;
    "parx --xargs") "$PARX" --xargs -a "$T/seq200k" "$T/count-args" ;;
    esac
    extra $S "$name" commands "$(wc -l <"$T/count.log")"
    extra $S "$name" check "$(awk '{s += $1} END {print s}' "$T/count.log") args"
done
bench $S 1 2

fi

# ---------------------------------------------------------------- 5. latency
if want latency; then
S=latency
add $S floor run "200 × \`sleep 0.05\`, 50 in flight" \
    "$FLOOR -P50 -a $T/sleep200 sleep"
add $S xargs run "200 × \`sleep 0.05\`, 50 in flight" \
    "xargs -P50 -n1 -a $T/sleep200 sleep"
add $S "GNU parallel" run "-j50, grouped" \
    "$PAR -j50 -a $T/sleep200 sleep"
[[ -n $RP ]] && add $S rust-parallel run "-j50" \
    "$RP -j50 -i $T/sleep200 sleep"
add $S parx run "-j50, grouped" \
    "$PARX -j50 -a $T/sleep200 sleep"
bench $S 2 2

fi

# ---------------------------------------------------------------- 6. start-up
if want startup; then
S=startup
add $S floor run "one \`true 1\`" "$FLOOR -a $T/one true"
add $S xargs base "one \`true 1\`" "xargs -a $T/one true"
add $S "GNU parallel" run "one \`true 1\`" "$PAR -a $T/one true"
[[ -n $RP ]] && add $S rust-parallel run "one \`true 1\`" "$RP -i $T/one true"
add $S parx run "one \`true 1\`" "$PARX -a $T/one true"
bench $S 10 3

fi

# ---------------------------------------------------------------- 7. scale
if want scale; then
S=scale
log "scale: parx peak RSS at 10,000 and 1,000,000 inputs"
for mode in dry-run X; do
    for n in 10k 1M; do
        if [[ $mode == dry-run ]]; then
            name="parx --dry-run, $n"
            cmd=("$PARX" --dry-run -a "$T/seq$n" true)
            why="prints each command instead of running it"
        else
            name="parx -X true, $n"
            cmd=("$PARX" -X -a "$T/seq$n" true)
            why="runs \`true\` with the inputs packed"
        fi
        printf '%s\t%s\t%s\t%s\t%s\n' $S "$name" run "$why" "${cmd[*]} > /dev/null" >>"$T/rows.tsv"
        v=() w=()
        for ((k = 0; k < REPS; k++)); do
            /usr/bin/time -f '%M %e' -o "$T/time.out" "${cmd[@]}" >/dev/null
            read -r rss secs <"$T/time.out"
            v+=("$rss") w+=("$secs")
        done
        extra $S "$name" rss_kib "$(printf '%s\n' "${v[@]}" | median3)"
        extra $S "$name" wall_s "$(printf '%s\n' "${w[@]}" | median3)"
    done
done

fi

# ---------------------------------------------------------------- 8. pipe
if want pipe; then
# 1 GiB of text lines, split into blocks on stdin (--pipe) or in place
# (--pipe-part); every job counts its block's lines.
S=pipe
{ yes 'the quick brown fox jumps over the lazy dog 0123456789' || true; } | head -c $((4 * BULK)) >"$T/text1g"
add $S "wc -l" base "one wc -l reading the file itself" \
    "sh -c 'wc -l < $T/text1g'"
add $S "cat | wc -l" run "the file through one pipe into one wc -l" \
    "sh -c 'cat $T/text1g | wc -l'"
head -c $((1 << 20)) "$T/text1g" >"$T/block1m"
add $S "floor: 1,024 × wc -l" run "what 1 MiB blocks cost at least: 1,024 \`wc -l\` of a 1 MiB file, 2 at a time (benches/floor.c)" \
    "$FLOOR -P2 -n 1024 wc -l $T/block1m"
add $S "GNU parallel --pipe" slow "-j2, 1 MiB blocks (its default) to wc -l on stdin" \
    "sh -c '$PAR -j2 --pipe wc -l < $T/text1g'"
add $S "parx --pipe" run "-j2, 1 MiB blocks (default) to wc -l; stdin is the file (cut in place)" \
    "sh -c '$PARX -j2 --pipe wc -l < $T/text1g'"
add $S "cat | parx --pipe" run "-j2, 1 MiB blocks; stdin is a pipe (read through parx)" \
    "sh -c 'cat $T/text1g | $PARX -j2 --pipe wc -l'"
add $S "parx --pipe --block 8M" run "-j2, 8 MiB blocks; stdin is the file" \
    "sh -c '$PARX -j2 --pipe --block 8M wc -l < $T/text1g'"
add $S "cat | parx --pipe --block 8M" run "-j2, 8 MiB blocks; stdin is a pipe" \
    "sh -c 'cat $T/text1g | $PARX -j2 --pipe --block 8M wc -l'"
add $S "GNU parallel --pipepart" slow "-j2, the file split in place (20 parts), each part to wc -l" \
    "$PAR -j2 -a $T/text1g --pipepart wc -l"
add $S "parx --pipe-part" run "-j2, the file split in place (20 parts), each part spliced to wc -l" \
    "$PARX -j2 -a $T/text1g --pipe-part wc -l"
add $S "cat > /dev/null" run "reading the file once, for --pipe-part's target" \
    "sh -c 'cat $T/text1g > /dev/null'"
lines=$(wc -l <"$T/text1g")
for name in "parx --pipe" "cat | parx --pipe" "parx --pipe-part" "GNU parallel --pipe"; do
    case $name in
    "parx --pipe") got=$("$PARX" -j2 --pipe wc -l <"$T/text1g" | awk '{s += $1} END {print s}') ;;
    "cat | parx --pipe") got=$(cat "$T/text1g" | "$PARX" -j2 --pipe wc -l | awk '{s += $1} END {print s}') ;;
    "parx --pipe-part") got=$("$PARX" -j2 -a "$T/text1g" --pipe-part wc -l | awk '{s += $1} END {print s}') ;;
    "GNU parallel --pipe") got=$($PAR -j2 --pipe wc -l <"$T/text1g" | awk '{s += $1} END {print s}') ;;
    esac
    if [[ $got == "$lines" ]]; then v="$got lines = wc -l"; else v="COUNTED $got, wc -l says $lines"; fi
    extra $S "$name" check "$v"
done
extra $S "parx --pipe" rss_kib "$(peak_rss /dev/null sh -c "$PARX -j2 --pipe wc -l < $T/text1g")"
extra $S "cat | parx --pipe" rss_kib "$(peak_rss /dev/null sh -c "cat $T/text1g | $PARX -j2 --pipe wc -l")"
extra $S "parx --pipe --block 8M" rss_kib "$(peak_rss /dev/null sh -c "$PARX -j2 --pipe --block 8M wc -l < $T/text1g")"
extra $S "cat | parx --pipe --block 8M" rss_kib "$(peak_rss /dev/null sh -c "cat $T/text1g | $PARX -j2 --pipe --block 8M wc -l")"
extra $S "parx --pipe-part" rss_kib "$(peak_rss /dev/null "$PARX" -j2 -a "$T/text1g" --pipe-part wc -l)"
bench $S 1 1
rm -f "$T/text1g" "$T/block1m"

fi

# ---------------------------------------------------------------- 9. ssh
# 40 jobs of `echo` on a throwaway sshd on 127.0.0.1 (needs root: a test
# user and an sshd are created, and removed at the end).
if want ssh && [[ $(id -u) == 0 && -x /usr/sbin/sshd ]]; then
S=ssh
SD=$(mktemp -d /tmp/parx-bench-sshd.XXXXXX)
chmod 700 "$SD"
SU=parx-bench$$
useradd -m -s /bin/sh "$SU" && usermod -p '*' "$SU"
ssh-keygen -q -t ed25519 -N '' -f "$SD/host"
ssh-keygen -q -t ed25519 -N '' -f "$SD/id"
SH=$(getent passwd "$SU" | cut -d: -f6)
install -d -o "$SU" -m 700 "$SH/.ssh"
install -o "$SU" -m 600 "$SD/id.pub" "$SH/.ssh/authorized_keys"
mkdir -p /run/sshd
SP=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'Port %s\nListenAddress 127.0.0.1\nHostKey %s/host\nPidFile %s/pid\nPubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nAllowUsers %s\nMaxStartups 100:30:200\nMaxSessions 100\n' \
    "$SP" "$SD" "$SD" "$SU" >"$SD/sshd_config"
/usr/sbin/sshd -f "$SD/sshd_config" -E "$SD/log"
echo "[127.0.0.1]:$SP $(cut -d' ' -f1,2 "$SD/host.pub")" >"$SD/known_hosts"
printf 'Host h1\n HostName 127.0.0.1\n Port %s\n User %s\n IdentityFile %s/id\n IdentitiesOnly yes\n UserKnownHostsFile %s/known_hosts\n StrictHostKeyChecking yes\n BatchMode yes\n LogLevel ERROR\n KexAlgorithms curve25519-sha256\n' \
    "$SP" "$SU" "$SD" "$SD" >"$SD/ssh_config"
# One word, so that GNU parallel's -M (ControlMaster) is not silently off.
printf '#!/bin/sh\nexec ssh -F %s/ssh_config "$@"\n' "$SD" >"$SD/ssh1"
chmod +x "$SD/ssh1"
for _ in $(seq 50); do ssh -F "$SD/ssh_config" h1 true 2>/dev/null && break; sleep 0.1; done
seq 40 >"$T/seq40"
add $S "GNU parallel -M" base "-M (ControlMaster) -S 2/h1, 40 × echo" \
    "$PAR --ssh $SD/ssh1 -M -S 2/h1 -a $T/seq40 echo"
add $S "parx -S" run "-S 2/h1 (one ControlMaster, set up and closed in the run), 40 × echo" \
    "$PARX --ssh $SD/ssh1 -S 2/h1 -a $T/seq40 echo"
add $S "xargs + ssh" slow "a new ssh login per job, 2 at a time" \
    "xargs -P2 -n1 -a $T/seq40 $SD/ssh1 h1 echo"
bench $S 1 1
kill "$(cat "$SD/pid")" 2>/dev/null || true
for _ in $(seq 50); do userdel -r "$SU" 2>/dev/null && break; pkill -KILL -u "$SU" 2>/dev/null; sleep 0.1; done
rm -rf "$SD"
fi

# ---------------------------------------------------------------- report
echo "- total script time: $((SECONDS - START)) s" >>"$T/meta.md"
python3 "$ROOT/benches/report.py" "$T" | tee "$OUT"
mkdir -p "$(dirname "$OUT")/json"
cp "$T"/json/*.json "$T/rows.tsv" "$T/extra.tsv" "$(dirname "$OUT")/json/"
log "report written to $OUT (hyperfine JSON in $(dirname "$OUT")/json)"
