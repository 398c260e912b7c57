#!/usr/bin/env python3
"""Turns one benches/run.sh run (its temp dir) into a markdown report on stdout.

`report.py DIR` prints the report of one run; `report.py --across DIR...` prints
the targets' ratios of several kept runs (BENCH_KEEP=1) side by side.

Inputs in DIR: meta.md (machine lines), rows.tsv (scenario, runner, role, why,
command), extra.tsv (scenario, runner, key, value) and json/<scenario>.<round>.json
(hyperfine exports; the warm-up round is json/warmup.*.json and is ignored).
Medians are over every sample of a runner in every round of this run; ratios
divide by the baseline's median from the same run.
"""
import glob
import json
import os
import statistics
import sys
from collections import defaultdict

GIB = 1 << 30
IDEAL_LATENCY = 0.2

SCENARIOS = [
    ("trivial", "trivial: 5,000 × `true`, 2 slots", "floor"),
    ("keep-order", "keep-order: 5,000 × `echo {}`, `-k`", "floor (unordered)"),
    ("bulk", "bulk: 4 × 256 MiB, grouped, to /dev/null", "cat"),
    ("packing", "packing: 200,000 args, `-X`", "xargs"),
    ("latency", "latency: 200 × `sleep 0.05`, 50 slots", None),
    ("startup", "start-up: 1 × `true`", "xargs"),
    ("scale", "scale: parx peak RSS, 10,000 vs 1,000,000 inputs", None),
    ("pipe", "pipe: 1 GiB of lines to `wc -l`, 2 slots", "wc -l"),
    ("ssh", "ssh: 40 × `echo` on a loopback sshd, 2 slots", "GNU parallel -M"),
]


def fmt_time(s):
    if s is None:
        return "—"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 0.01:
        return f"{s * 1000:.0f} ms"
    return f"{s * 1000:.2f} ms"


def fmt_ratio(r):
    return "—" if r is None else f"{r:.2f}"


def build(d):
    """The report for one run as a list of lines, and the targets' (description, value) pairs."""
    collected = []
    rows = []
    for line in open(os.path.join(d, "rows.tsv"), encoding="utf-8"):
        scen, name, role, why, cmd = line.rstrip("\n").split("\t")
        rows.append((scen, name, role, why, cmd))
    extra = defaultdict(dict)
    path = os.path.join(d, "extra.tsv")
    if os.path.exists(path):
        for line in open(path, encoding="utf-8"):
            scen, name, key, value = line.rstrip("\n").split("\t")
            extra[(scen, name)][key] = value
    samples = defaultdict(list)
    by_round = defaultdict(dict)  # (scenario, runner) -> {round: median of that round}
    for f in sorted(glob.glob(os.path.join(d, "json", "*.json"))):
        base = os.path.basename(f)
        if base.startswith("warmup."):
            continue
        scen, rnd, _ = base.rsplit(".", 2)
        for res in json.load(open(f, encoding="utf-8"))["results"]:
            samples[(scen, res["command"])].extend(res["times"])
            by_round[(scen, res["command"])][int(rnd)] = statistics.median(res["times"])
    med = {k: statistics.median(v) for k, v in samples.items()}

    def paired(scen, a, b, invert=False):
        """Per-round ratios a/b (b/a with invert): both measured minutes apart at most."""
        ra, rb = by_round.get((scen, a), {}), by_round.get((scen, b), {})
        vals = [(rb[k] / ra[k]) if invert else (ra[k] / rb[k]) for k in sorted(ra) if k in rb]
        return ", ".join(f"{v:.2f}" for v in vals) or "—"

    def per_round_vs(scen, a, const):
        return ", ".join(f"{v / const:.2f}" for _, v in sorted(by_round.get((scen, a), {}).items())) or "—"

    def m(scen, name):
        return med.get((scen, name))

    def ratio(a, b):
        return None if a is None or b is None or b == 0 else a / b

    def rss_mib(scen, name):
        v = extra[(scen, name)].get("rss_kib")
        return None if v is None else int(v) / 1024

    out = []
    out.append("## Run")
    out.append("")
    out.append(open(os.path.join(d, "meta.md"), encoding="utf-8").read().rstrip())
    out.append("")
    out.append("## Results (medians; ratios against the baseline measured in the same run)")
    out.append("")
    out.append("| scenario | runner | median | ratio | notes | why the flags are equivalent |")
    out.append("|---|---|---|---|---|---|")
    for scen, title, base in SCENARIOS:
        first = True
        for s, name, role, why, cmd in rows:
            if s != scen:
                continue
            notes = []
            ex = extra[(scen, name)]
            if scen == "scale":
                mode = name.rsplit(",", 1)[0]
                t = float(ex["wall_s"])
                r = ratio(rss_mib(scen, name), rss_mib(scen, f"{mode}, 10k"))
                rtext = f"{fmt_ratio(r)} × RSS at 10k"
                notes.append(f"peak RSS {rss_mib(scen, name):.1f} MiB")
            else:
                t = m(scen, name)
                if scen == "latency":
                    rtext = f"{fmt_ratio(ratio(t, IDEAL_LATENCY))} × ideal 0.2 s"
                    if m(scen, "floor") and name != "floor":
                        notes.append(f"{fmt_ratio(ratio(t, m(scen, 'floor')))} × floor")
                else:
                    rtext = "1.00 (base)" if name == base else f"{fmt_ratio(ratio(t, m(scen, base)))} × {base}"
                if scen == "startup" and name != "floor" and m(scen, "floor"):
                    notes.append(f"{fmt_ratio(ratio(t, m(scen, 'floor')))} × floor")
                if scen == "trivial" and t is not None:
                    notes.append(f"{t / 5000 * 1e3:.3f} ms/job")
                if scen == "bulk" and t:
                    notes.append(f"{4 * 256 * 1024 * 1024 / t / 1e6:.0f} MB/s")
                if "rss_kib" in ex:
                    notes.append(f"peak RSS {rss_mib(scen, name):.1f} MiB")
                if "commands" in ex:
                    notes.append(f"{ex['commands']} commands")
            if "check" in ex:
                notes.append(ex["check"])
            label = title if first else ""
            first = False
            cells = [label, name, fmt_time(t), rtext, "; ".join(notes), why]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    out.append("")

    # Targets of issue 4.
    def target(desc, value, ok, shown, rounds="—"):
        collected.append((desc, value))
        mark = "—" if ok is None else ("met" if ok else "**missed**")
        cells = [desc, shown if value is not None else "not measured", rounds, mark]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")

    def versus(desc, scen, a, b, at_most=None, at_least=None, shown="×"):
        """A target on the ratio of a's median to b's, shown with its per-round ratios."""
        r = ratio(m(scen, a), m(scen, b))
        ok = None
        if at_most is not None:
            ok = r is not None and r <= at_most
        if at_least is not None:
            ok = r is not None and r >= at_least
        target(desc, r, ok, f"{fmt_ratio(r)} {shown}", paired(scen, a, b))

    out.append("## Issue 4 targets")
    out.append("")
    out.append("Ratios of medians; the per-round column repeats the ratio for each round alone "
               "(the runners of one round ran back to back), which shows how noisy the machine was.")
    out.append("")
    out.append("| target | measured in this run | per round | verdict |")
    out.append("|---|---|---|---|")
    versus("trivial: parx ≤ 1.10 × floor", "trivial", "parx", "floor", at_most=1.10)
    versus("(no target) trivial: parx vs the 2-thread floor `floor -t`", "trivial", "parx", "floor -t")
    versus("trivial: parx ≤ 0.95 × `xargs -P2 -n1`", "trivial", "parx", "xargs -P2 -n1", at_most=0.95)
    versus("keep-order: parx -k ≤ 1.20 × floor", "keep-order", "parx -k", "floor (unordered)",
           at_most=1.20)
    versus("(no target) keep-order: parx -k vs the 2-thread floor `floor -t`", "keep-order", "parx -k",
           "floor -t (unordered)")
    versus("keep-order: parx -k ≥ 5 × faster than GNU parallel -k", "keep-order", "GNU parallel -k",
           "parx -k", at_least=5, shown="× faster")
    for name in ("parx", "parx -k"):
        r = ratio(m("bulk", "cat"), m("bulk", name))
        target(f"bulk: {name} throughput ≥ 0.8 × cat", r, r is not None and r >= 0.8, f"{fmt_ratio(r)} × cat",
               paired("bulk", name, "cat", invert=True))
    for name in ("parx", "parx -k"):
        v = rss_mib("bulk", name)
        target(f"bulk: {name} peak RSS ≤ 32 MiB", v, v is not None and v <= 32,
               f"{v:.1f} MiB" if v is not None else "")
    cx = extra[("packing", "xargs")].get("commands")
    cp = extra[("packing", "parx -X")].get("commands")
    ok = None if cx is None or cp is None else int(cp) < int(cx)
    target("packing: fewer commands than xargs", cp, ok, f"parx {cp}, xargs {cx}")
    versus("packing: wall ≤ 0.8 × xargs", "packing", "parx -X", "xargs", at_most=0.8)
    r = ratio(m("latency", "parx"), IDEAL_LATENCY)
    target("latency: ≤ 1.15 × ideal 0.2 s", r, r is not None and r <= 1.15, f"{fmt_ratio(r)} ×",
           per_round_vs("latency", "parx", IDEAL_LATENCY))
    versus("start-up: ≤ 1.5 × xargs", "startup", "parx", "xargs", at_most=1.5)
    for mode in ("parx --dry-run", "parx -X true"):
        r = ratio(rss_mib("scale", f"{mode}, 1M"), rss_mib("scale", f"{mode}, 10k"))
        target(f"scale ({mode}): RSS at 1M ≤ 1.2 × RSS at 10k", r, r is not None and r <= 1.2,
               f"{fmt_ratio(r)} ×")
    out.append("")
    out.append("## Issue 7 targets (throughput = 1 / time, so ratios of times are inverted)")
    out.append("")
    out.append("| target | value | per round | verdict |")
    out.append("|---|---|---|---|")
    # Times of the baseline over times of parx: throughput ratios.
    versus("pipe: parx --pipe ≥ 3 × GNU parallel's throughput", "pipe", "GNU parallel --pipe",
           "parx --pipe", at_least=3)
    versus("pipe: parx --pipe ≥ 0.7 × `wc -l` alone", "pipe", "wc -l", "parx --pipe", at_least=0.7)
    versus("(no target) pipe: the floor, 1,024 × `wc -l` of 1 MiB, vs `wc -l` alone", "pipe", "wc -l",
           "floor: 1,024 × wc -l")
    versus("(no target) pipe: parx --pipe vs that floor", "pipe", "floor: 1,024 × wc -l", "parx --pipe")
    versus("(no target) pipe: parx --pipe --block 8M vs `wc -l` alone", "pipe", "wc -l",
           "parx --pipe --block 8M")
    versus("(no target) pipe: cat | parx --pipe vs GNU parallel --pipe (from the file)", "pipe",
           "GNU parallel --pipe", "cat | parx --pipe")
    versus("(no target) pipe: cat | parx --pipe vs `cat | wc -l`", "pipe", "cat | wc -l",
           "cat | parx --pipe")
    versus("(no target) pipe: cat | parx --pipe --block 8M vs `cat | wc -l`", "pipe", "cat | wc -l",
           "cat | parx --pipe --block 8M")
    versus("pipe-part: ≥ 0.8 × reading the file with cat", "pipe", "cat > /dev/null", "parx --pipe-part",
           at_least=0.8)
    for name, limit in (("parx --pipe", 18), ("cat | parx --pipe", 18),
                        ("parx --pipe --block 8M", 32), ("cat | parx --pipe --block 8M", 32)):
        r = rss_mib("pipe", name)
        mib = limit - 16
        target(f"pipe: {name} peak RSS ≤ 2 slots × {mib // 2} MiB + 16 MiB", r, r is not None and r <= limit,
               f"{r:.1f} MiB" if r else "—")
    out.append("")
    out.append("## Issue 8 targets")
    out.append("")
    out.append("| target | value | per round | verdict |")
    out.append("|---|---|---|---|")
    versus("ssh: parx -S ≤ 0.8 × GNU parallel -M", "ssh", "parx -S", "GNU parallel -M", at_most=0.8)
    out.append("")

    out.append("## Exact commands (hyperfine --shell=none, output to /dev/null)")
    out.append("")
    out.append("`$T` is the run's temp dir: `seq5000`, `seq200k`, `seq10k`, `seq1M` hold `seq N`; "
               "`zero4` holds 4 lines `/dev/zero`; `sleep200` holds 200 lines `0.05`; `one` holds `1`; "
               "`count-args` is `#!/bin/sh` + `echo \"$#\" >> $T/count.log`; `floor` is benches/floor.c "
               "built with `cc -O2 -pthread`; `text1g` is 1 GiB of `yes 'the quick brown fox jumps over "
               "the lazy dog 0123456789'` lines and `block1m` its first MiB.")
    out.append("")
    out.append("```")
    for scen, name, role, why, cmd in rows:
        cmd = cmd.replace(d, "$T")
        out.append(f"{scen:10} {name:28} {cmd}")
    out.append("```")
    return out, collected


def across(dirs):
    """One row per target, one column per run (ratio of medians), and their median."""
    runs = []
    for d in dirs:
        date = next((l[len("- date: "):].strip() for l in open(os.path.join(d, "meta.md"), encoding="utf-8")
                     if l.startswith("- date: ")), os.path.basename(d))
        runs.append((date, dict(build(d)[1])))
    descs = []
    for _, col in runs:
        descs += [k for k in col if k not in descs]
    print("| target | " + " | ".join(date for date, _ in runs) + " | median of runs |")
    print("|---|" + "---|" * (len(runs) + 1))
    for desc in descs:
        vals = []
        for _, col in runs:
            v = col.get(desc)
            try:
                vals.append(float(v))
            except (TypeError, ValueError):
                vals.append(None)
        nums = [v for v in vals if v is not None]
        count = desc.startswith("packing: fewer")  # a command count, not a ratio
        cells = ["—" if v is None else (f"{v:.0f}" if count else f"{v:.2f}") for v in vals]
        mid = (f"{statistics.median(nums):.0f}" if count else f"{statistics.median(nums):.2f}") if nums else "—"
        print(f"| {desc} | " + " | ".join(cells) + f" | {mid} |")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--across":
        across(sys.argv[2:])
    elif len(sys.argv) == 2:
        print("\n".join(build(sys.argv[1])[0]))
    else:
        sys.exit("usage: report.py RUN_DIR | report.py --across RUN_DIR...")
