"""Cost model of `langmill corpus` (issue 15, point 4): measure the five stages on generated input of
a few sizes, derive per-unit rates, project them to 100 GB - 10 TB on a cluster.

    .venv/bin/python bench/scale.py                                   # 0.1, 0.3, 1 GB x workers 1,2 x K 1,8
    .venv/bin/python bench/scale.py --sizes 0.02,0.04 --dedup-tasks 1,4 --out /tmp/scale_smoke.md

1. Input: `--sizes` GB of JSONL (documents of 8-40 real sentences of one language from ../shared/data,
   `--target-share` in `--lang`, `--exact-dups` exact and `--near-dups` near copies of earlier
   documents), written once per size under `--data-dir` and reused by later runs.
2. For every size x `--workers` W x `--dedup-tasks` K: `langmill corpus IN --workers W --tasks 2W
   --dedup-tasks K` into a fresh folder. Its stderr stage lines (`[2/5] buckets (8 tasks)`) are read as
   they come and the process tree's resident memory is sampled every `--interval` s, each sample
   counted to the stage running then. Measured: wall time, each stage's time, the largest single
   process and the tree sum per stage, the folders' sizes after the run, the document counts.
3. Rates (least-squares lines over the runs) and a projection; see the notes written with them.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import benchdata  # noqa: E402
from procmem import PAGE, _parents  # noqa: E402

STAGES = ("filter", "buckets", "clusters", "apply", "report")
START = re.compile(r"^\[\d+/\d+\] (\w+) \((\d+) tasks?\)$")
END = re.compile(r"^\[\d+/\d+\] (\w+) finished in ([\d.]+) s$")
FOLDERS = {"staged": "work/staged", "keys": "dedup/keys", "work_dedup": "work/dedup", "data": "data", "excluded": "excluded"}
TEMPORARY = ("staged", "keys", "work_dedup")  # keys stay for --dedup-against, but are not the corpus
SIZES = (100, 1000, 10000)  # projected input, GB
LAYOUTS = ((4, 32), (16, 64), (64, 64))  # nodes x cores
BUCKET_TASK_MB = 4096  # a buckets task must fit this
NODE_MB = 256 * 1024  # the clusters task runs on one node
MAX_K = 4096  # --dedup-tasks limit
RESERVOIR = 5000

# ---------------------------------------------------------------------------
# 1. input


def near_copy(text: str, rng: random.Random) -> str:
    """About one word in a hundred replaced by another word of the same document (at least one)."""
    words = text.split(" ")
    for _ in range(max(1, len(words) // 100)):
        words[rng.randrange(len(words))] = rng.choice(words)
    return " ".join(words)


def language_mix(pools: dict[str, list[str]], lang: str, share: float) -> dict[str, list[str]]:
    """Pools repeated so that `lang` makes up about `share` of the documents drawn (by pool size)."""
    others = sum(len(p) for k, p in pools.items() if k != lang)
    reps = max(1, round(share / (1 - share) * others / max(len(pools[lang]), 1)))
    return {k: (p * reps if k == lang else p) for k, p in pools.items()}


def write_input(path: Path, gb: float, lang: str, share: float, exact: float, near: float, seed: int) -> dict:
    """Streams `gb` GB of text as JSONL (never more than one document and a small reservoir in memory)."""
    rng = random.Random(seed)
    fresh = benchdata.random_documents(language_mix(benchdata.sentence_pools(), lang, share), rng)
    recent: collections.deque[str] = collections.deque(maxlen=RESERVOIR)
    counts = collections.Counter()
    size, target = 0, gb * 1e9
    with open(path, "w", encoding="utf-8") as f:
        while size < target:
            roll = rng.random()
            if recent and roll < exact:
                text, kind = rng.choice(recent), "exact_dup"
            elif recent and roll < exact + near:
                text, kind = near_copy(rng.choice(recent), rng), "near_dup"
            else:
                doc_lang, text = next(fresh)
                kind = f"unique_{doc_lang}"
                if rng.random() < 0.1:  # plant copies of a sample of documents, from any time
                    recent.append(text)
            counts[kind] += 1
            f.write(json.dumps({"id": f"s{sum(counts.values())}", "text": text}, ensure_ascii=False) + "\n")
            size += len(text.encode("utf-8"))
    return {"docs": sum(counts.values()), "text_mb": size / 1e6, "file_bytes": path.stat().st_size, **dict(sorted(counts.items()))}


def cached_input(args, gb: float) -> tuple[Path, dict]:
    """The input for `gb`, generated once per settings (the file name holds them)."""
    name = f"input-{gb:g}gb-{args.lang}-share{args.target_share:g}-x{args.exact_dups:g}-n{args.near_dups:g}-seed{args.seed}"
    path, meta = args.data_dir / f"{name}.jsonl", args.data_dir / f"{name}.json"
    if path.exists() and meta.exists():
        info = json.loads(meta.read_text())
        if info.get("file_bytes") == path.stat().st_size:
            return path, info
    started = time.perf_counter()
    part = path.with_suffix(".part")
    info = write_input(part, gb, args.lang, args.target_share, args.exact_dups, args.near_dups, args.seed)
    part.rename(path)
    meta.write_text(json.dumps(info))
    print(f"wrote {path} ({info['docs']:,} documents) in {time.perf_counter() - started:.0f} s", flush=True)
    return path, info


# ---------------------------------------------------------------------------
# 2. one measured run


def tree_rss(root: int) -> dict[int, int]:
    """pid -> resident bytes for `root` and its descendants."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parents().items():
        children.setdefault(ppid, []).append(pid)
    out, stack = {}, [root]
    while stack:
        pid = stack.pop()
        try:
            out[pid] = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            pass
        stack.extend(children.get(pid, []))
    return out


class StageSampler:
    """Memory samples of a process tree, each counted to the stage that is running when it is taken.
    Per stage: `base` (the main process at the stage's start), `peak` (largest single process) and
    `tree` (largest sum over the tree), in bytes; `reported`: the stage's own 'finished in' seconds."""

    def __init__(self, pid: int):
        self.pid, self.stage, self.lock = pid, "start-up", threading.Lock()
        self.mem: dict[str, dict[str, int]] = {}
        self.tasks: dict[str, int] = {}
        self.reported: dict[str, float] = {}
        self.seen: dict[str, list[float]] = {}  # stage -> [first, last] timestamp

    def sample(self, new_stage: str | None = None) -> None:
        with self.lock:
            rss = tree_rss(self.pid)
            if not rss:
                return
            if new_stage:
                self.stage = new_stage
            now = time.monotonic()
            m = self.mem.setdefault(self.stage, {"base": rss.get(self.pid, 0), "peak": 0, "tree": 0})
            m["peak"], m["tree"] = max(m["peak"], max(rss.values())), max(m["tree"], sum(rss.values()))
            self.seen.setdefault(self.stage, [now, now])[1] = now

    def read_stderr(self, pipe, log) -> None:
        for line in pipe:
            log.write(f"{time.monotonic():.3f} {line}")
            text = line.strip()
            if m := START.match(text):
                self.tasks[m[1]] = int(m[2])
                self.sample(m[1])  # the main process as the stage starts: its baseline
            elif m := END.match(text):
                self.sample()
                self.reported[m[1]] = float(m[2])
                self.sample("between stages")

    def poll(self, stop: threading.Event, interval: float) -> None:
        while not stop.wait(interval):
            self.sample()


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def measure_run(args, input_path: Path, gb: float, workers: int, k: int) -> dict:
    name = f"{gb:g}gb-w{workers}-k{k}"
    out, log_path = args.data_dir / "runs" / name, args.data_dir / "runs" / f"{name}.log"
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tasks = workers * args.tasks_per_worker
    cmd = [sys.executable, "-m", "langmill.cli", "corpus", str(input_path), "--lang", args.lang, "--out", str(out),
           "--workers", str(workers), "--tasks", str(tasks), "--dedup-tasks", str(k)]
    with open(log_path, "w", encoding="utf-8") as log:
        log.write(" ".join(cmd) + "\n")
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        sampler, stop = StageSampler(proc.pid), threading.Event()
        threads = [threading.Thread(target=sampler.read_stderr, args=(proc.stderr, log), daemon=True),
                   threading.Thread(target=sampler.poll, args=(stop, args.interval), daemon=True)]
        for t in threads:
            t.start()
        _, status, usage = os.wait4(proc.pid, 0)  # before proc.wait: the tree is sampled until the end
        wall = time.monotonic() - started
        stop.set()
        for t in threads:
            t.join()
    if os.waitstatus_to_exitcode(status) != 0:
        tail = log_path.read_text(encoding="utf-8").splitlines()[-30:]
        sys.exit(f"langmill corpus failed for {name} (exit {os.waitstatus_to_exitcode(status)}); log {log_path}:\n" + "\n".join(tail))
    missing = [s for s in STAGES if s not in sampler.reported]
    if missing:
        sys.exit(f"{name}: no 'finished in' line for {', '.join(missing)} in {log_path} (did the stage lines change?)")
    stats = json.loads((out / "stats.json").read_text())
    reasons = stats["excluded_by_reason"]
    dedup_drops = reasons.get("exact_dup", 0) + reasons.get("near_dup", 0)
    mb = 2**20
    run = {
        "name": name, "gb": gb, "workers": workers, "tasks": tasks, "k": k, "wall_s": wall, "max_rss_mb": usage.ru_maxrss / 1024,
        "input_bytes": input_path.stat().st_size, "rows_in": stats["rows_in"], "kept": stats["kept"], "dedup_drops": dedup_drops,
        "staged": stats["kept"] + dedup_drops, "dup_docs": stats["dedup"]["documents_with_duplicates"],
        "stage_s": {s: sampler.reported[s] for s in STAGES},
        "stage_mem_mb": {s: {key: v / mb for key, v in m.items()} for s, m in sampler.mem.items()},
        "tree_peak_mb": max(m["tree"] for m in sampler.mem.values()) / mb,
        "disk": {key: folder_bytes(out / rel) for key, rel in FOLDERS.items()},
    }
    if not args.keep_runs:
        shutil.rmtree(out, ignore_errors=True)
    return run


# ---------------------------------------------------------------------------
# 3. rates and projection


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line; through the origin (largest point) when the
    points cannot give a rising line (one x value, or noise)."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0
    if slope <= 0 or my - slope * mx < 0:
        x, y = max(points)
        return (y / x if x else 0.0), 0.0
    return slope, my - slope * mx


def stage_mem(run: dict, stage: str, key: str = "peak") -> float:
    return run["stage_mem_mb"].get(stage, {}).get(key, 0.0)


def rates(runs: list[dict]) -> dict:
    """Per-unit rates. Memory and time lines use the runs with the most workers: with one worker
    every stage runs in the main process, which keeps what earlier stages allocated."""
    top = max(r["workers"] for r in runs)
    use = [r for r in runs if r["workers"] == top]
    procs = lambda r, tasks: min(r["workers"], tasks)  # noqa: E731  processes a stage ran in
    gbs = lambda r: r["input_bytes"] / 1e9  # noqa: E731
    grow = lambda r, s: max(stage_mem(r, s) - stage_mem(r, s, "base"), 0.0)  # noqa: E731
    largest = [r for r in runs if r["gb"] == max(x["gb"] for x in runs)]
    total_gb = sum(gbs(r) for r in largest)
    return {
        "workers": top,
        "filter_core_s_per_gb": fit([(gbs(r), r["stage_s"]["filter"] * procs(r, r["tasks"])) for r in use]),
        "filter_task_mb": max(stage_mem(r, "filter") for r in use),
        "buckets_core_s_per_mdoc": fit([(r["staged"] / 1e6, r["stage_s"]["buckets"] * procs(r, r["k"])) for r in use]),
        "buckets_mb_per_mdoc_bucket": fit([(r["staged"] / r["k"] / 1e6, grow(r, "buckets")) for r in use]),
        "buckets_base_mb": max(stage_mem(r, "buckets", "base") for r in use),
        "clusters_s_per_mdup": fit([(r["dup_docs"] / 1e6, r["stage_s"]["clusters"]) for r in use]),
        "clusters_mb_per_mdup": fit([(r["dup_docs"] / 1e6, grow(r, "clusters")) for r in use]),
        "clusters_base_mb": max(stage_mem(r, "clusters", "base") for r in use),
        "apply_s_per_gb": fit([(gbs(r), r["stage_s"]["apply"]) for r in use]),
        "report_s_per_gb": fit([(gbs(r), r["stage_s"]["report"]) for r in use]),
        "rows_per_gb": sum(r["rows_in"] for r in largest) / total_gb,
        "staged_per_gb": sum(r["staged"] for r in largest) / total_gb,
        "dup_per_gb": sum(r["dup_docs"] for r in largest) / total_gb,
        "disk_per_gb": {key: sum(r["disk"][key] for r in largest) / sum(r["input_bytes"] for r in largest) for key in FOLDERS},
    }


def project(rt: dict, gb: float, nodes: int, cores: int) -> dict:
    cpus = nodes * cores
    staged_m, dup_m = rt["staged_per_gb"] * gb / 1e6, rt["dup_per_gb"] * gb / 1e6
    line = lambda key, x: rt[key][0] * x + rt[key][1]  # noqa: E731
    room = BUCKET_TASK_MB - rt["buckets_base_mb"] - rt["buckets_mb_per_mdoc_bucket"][1]
    k_mem = math.ceil(staged_m * rt["buckets_mb_per_mdoc_bucket"][0] / room) if room > 0 else MAX_K + 1
    k = min(MAX_K, max(k_mem, cpus))  # at least one bucket per core, so that the stage uses them all
    per_bucket_s = rt["buckets_core_s_per_mdoc"][0] * staged_m / k
    times = {
        "filter": rt["filter_core_s_per_gb"][0] * gb / cpus + rt["filter_core_s_per_gb"][1],
        "buckets": math.ceil(k / cpus) * per_bucket_s + rt["buckets_core_s_per_mdoc"][1],
        "clusters": line("clusters_s_per_mdup", dup_m),
        "apply": rt["apply_s_per_gb"][0] * gb / cpus + rt["apply_s_per_gb"][1],
        "report": line("report_s_per_gb", gb),  # one task
    }
    times = {stage: max(t, 0.0) for stage, t in times.items()}  # a fitted line's negative fixed part is noise, not time
    return {
        "gb": gb, "layout": f"{nodes}x{cores}", "k": k, "k_fits": k_mem <= MAX_K, "times": times, "total_s": sum(times.values()),
        "bottleneck": max(times, key=times.get), "filter_mb": rt["filter_task_mb"],
        "buckets_mb": rt["buckets_base_mb"] + line("buckets_mb_per_mdoc_bucket", staged_m / k),
        "clusters_mb": rt["clusters_base_mb"] + line("clusters_mb_per_mdup", dup_m),
        "temp_gb": sum(rt["disk_per_gb"][key] for key in TEMPORARY) * gb, "out_gb": (rt["disk_per_gb"]["data"] + rt["disk_per_gb"]["excluded"]) * gb,
    }


def input_gb_for_clusters_mb(rt: dict, mb: float) -> float:
    """Input size at which the clusters task would need `mb`, at the measured duplicate rate."""
    slope, intercept = rt["clusters_mb_per_mdup"]
    per_gb = slope * rt["dup_per_gb"] / 1e6
    return (mb - rt["clusters_base_mb"] - intercept) / per_gb if per_gb > 0 else math.inf


# ---------------------------------------------------------------------------
# 4. the report


def dur(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def size(gb: float) -> str:
    return f"{gb / 1000:,.3g} TB" if gb >= 1000 else f"{gb:.3g} GB"


def memory(mb: float) -> str:
    return f"{mb / 1024:,.1f} GB" if mb >= 10240 else f"{mb:,.0f} MB"


def header(args, started: float) -> list[str]:
    git = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=HERE.parent, capture_output=True, text=True,
                         env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"}).stdout.strip() or "unknown"
    ram = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")) / 2**20
    return [
        "# langmill corpus: measured cost and projection",
        "",
        f"- command: `{' '.join([Path(sys.executable).name, *sys.argv])}`",
        f"- date: {time.strftime('%Y-%m-%d %H:%M')}, " + (f"report from the measurements in {args.from_runs}" if args.from_runs
                                                            else f"{dur(time.monotonic() - started)} in all"),
        f"- machine: {os.cpu_count()} cores, {ram:.0f} GB RAM, load average at the end {os.getloadavg()[0]:.1f}; langmill at {git}",
        f"- input: generated JSONL, {args.target_share:.0%} of documents in `{args.lang}`, planted {args.exact_dups:.0%} exact and "
        f"{args.near_dups:.0%} near duplicates (seed {args.seed}); `--tasks` = {args.tasks_per_worker} x workers (several tasks per worker "
        "balance the load as on a cluster, and keep each filter task's share of the input small)",
        "",
    ]


def measured_tables(runs: list[dict]) -> list[str]:
    lines = [
        "## Measured",
        "",
        "Stage seconds are the stage's own `finished in` figures; `dup docs` = documents with a duplicate (stats.json `dedup`).",
        "",
        "| input | W | tasks | K | wall | " + " | ".join(STAGES) + " | rows in | staged | dup docs |",
        "|---|---|---|---|---|" + "---|" * len(STAGES) + "---|---|---|",
    ]
    for r in runs:
        lines.append(f"| {r['input_bytes'] / 1e6:,.0f} MB | {r['workers']} | {r['tasks']} | {r['k']} | {r['wall_s']:.1f} | "
                     + " | ".join(f"{r['stage_s'][s]:.1f}" for s in STAGES) + f" | {r['rows_in']:,} | {r['staged']:,} | {r['dup_docs']:,} |")
    lines += [
        "",
        "Memory: largest single process during each stage, MB (in brackets: the main process as the stage started, which forked "
        "workers share); tree = peak sum over the process tree. Disk: MB of files after the run.",
        "",
        "| input | W | K | " + " | ".join(STAGES) + " | tree | " + " | ".join(FOLDERS) + " |",
        "|---|---|---|" + "---|" * (len(STAGES) + 1 + len(FOLDERS)),
    ]
    for r in runs:
        mem = [f"{stage_mem(r, s):,.0f} ({stage_mem(r, s, 'base'):,.0f})" if s in r["stage_mem_mb"] else "-" for s in STAGES]
        lines.append(f"| {r['input_bytes'] / 1e6:,.0f} MB | {r['workers']} | {r['k']} | " + " | ".join(mem) + f" | {r['tree_peak_mb']:,.0f} | "
                     + " | ".join(f"{r['disk'][key] / 1e6:,.1f}" for key in FOLDERS) + " |")
    return lines + [""]


def with_dedup_rates(rt: dict, measured: dict) -> dict:
    """The buckets and clusters lines of bench/dedup_memory.py (measured with millions of documents
    in one task, in a fresh process: its base is in `*_base_mb` already) instead of the runs'."""
    rt = dict(rt)
    rt["buckets_mb_per_mdoc_bucket"] = tuple(measured["buckets_mb_per_mdoc"])
    rt["buckets_core_s_per_mdoc"] = tuple(measured["buckets_s_per_mdoc"])
    rt["clusters_mb_per_mdup"] = tuple(measured["clusters_mb_per_mdup"])
    rt["clusters_s_per_mdup"] = tuple(measured["clusters_s_per_mdup"])
    rt["dedup_rates_from"] = [s["docs"] for s in measured["sizes"]]
    return rt


def rate_lines(rt: dict) -> list[str]:
    def row(what, pair, unit):
        return f"| {what} | {pair[0]:,.3g} {unit} | {pair[1]:,.3g} |"

    disk = ", ".join(f"{key} {v:.2f}" for key, v in rt["disk_per_gb"].items())
    return [
        "## Rates",
        "",
        f"Least-squares lines over the runs with {rt['workers']} worker(s) (a rate and a fixed part; a line through the largest point "
        "when the points do not rise). `core-s` = stage seconds x processes the stage ran in; memory growth = a stage's largest "
        "process minus the main process at the stage's start.",
        "",
        "| rate | per unit | fixed part |",
        "|---|---|---|",
        row("filter time", rt["filter_core_s_per_gb"], "core-s per input GB"),
        row("buckets time", rt["buckets_core_s_per_mdoc"], "core-s per million staged docs"),
        row("buckets task memory growth", rt["buckets_mb_per_mdoc_bucket"], "MB per million staged docs in its bucket (docs / K)"),
        row("clusters time (one task)", rt["clusters_s_per_mdup"], "s per million documents with a duplicate"),
        row("clusters memory growth (one task)", rt["clusters_mb_per_mdup"], "MB per million documents with a duplicate"),
        row("apply time", rt["apply_s_per_gb"], "s per input GB (one process, which may use every core)"),
        row("report time (one task)", rt["report_s_per_gb"], "s per input GB"),
        "",
        f"- filter task, largest process over the runs: {rt['filter_task_mb']:,.0f} MB (projected flat: tasks stream their documents); main process at the "
        f"start of buckets {rt['buckets_base_mb']:,.0f} MB, of clusters {rt['clusters_base_mb']:,.0f} MB (the projection adds these as each task's base)",
        f"- documents per input GB: {rt['rows_per_gb']:,.0f} rows, {rt['staged_per_gb']:,.0f} staged (passed the filters), "
        f"{rt['dup_per_gb']:,.0f} with a duplicate ({rt['dup_per_gb'] / max(rt['staged_per_gb'], 1):.1%} of staged)",
        f"- disk, GB per input GB: {disk}",
        *([f"- buckets and clusters lines: `bench/dedup_memory.py` (dedup_memory.json), one buckets task and the clusters task on "
           f"{', '.join(f'{n / 1e6:g}' for n in rt['dedup_rates_from'])} million documents of generated keys (30 % copies), each in a "
           "fresh process, memory above its size after imports; the corpus runs above hold too few documents for these lines"]
          if rt.get("dedup_rates_from") else []),
        "",
    ]


def projection_lines(rt: dict) -> list[str]:
    rows = [project(rt, gb, n, c) for gb in SIZES for n, c in LAYOUTS]
    lines = [
        "## Projection",
        "",
        f"Input GB x rate, spread over nodes x cores (filter and apply tasks: perfect spread; buckets: K tasks in waves of one per core; "
        f"clusters and report: one task). K = the fewest buckets whose task fits {BUCKET_TASK_MB / 1024:g} GB, raised to one per core "
        f"(at most {MAX_K}). Temporary disk = staged + keys + work/dedup; output = data + excluded.",
        "",
        "| input | nodes x cores | K | filter | buckets | clusters | apply | report | total | filter task | buckets task | clusters task | temp disk | output | slowest |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in rows:
        t = p["times"]
        k = f"{p['k']}" + ("" if p["k_fits"] else " (limit: task > 4 GB)")
        lines.append(f"| {size(p['gb'])} | {p['layout']} | {k} | " + " | ".join(dur(t[s]) for s in STAGES) + f" | {dur(p['total_s'])} | "
                     f"{memory(p['filter_mb'])} | {memory(p['buckets_mb'])} | {memory(p['clusters_mb'])} | {size(p['temp_gb'])} | "
                     f"{size(p['out_gb'])} | {p['bottleneck']} |")
    node_gb = input_gb_for_clusters_mb(rt, NODE_MB)
    big = project(rt, 10000, *LAYOUTS[-1])
    lines += [
        "",
        f"- The single clusters task grows with the documents that have a duplicate: at the measured rate "
        f"({rt['dup_per_gb']:,.0f} per input GB) it stops fitting a 256 GB node at about **{size(node_gb)}** of input; at 10 TB it needs "
        f"{memory(big['clusters_mb'])} and {dur(big['times']['clusters'])}.",
        f"- Slowest stage at 10 TB on {big['layout']}: {big['bottleneck']} ({dur(big['times'][big['bottleneck']])} of {dur(big['total_s'])}); "
        "filter and apply shrink with more cores, clusters and report do not.",
        "",
        "Where this stops being trustworthy:",
        "",
        "- it extrapolates lines fitted to inputs of at most a few GB by factors of 100-10,000: anything that is not linear (hash "
        "tables resizing, union-find depth, Parquet footers, the allocator keeping memory) is invisible, and on a 2-core machine the "
        "fixed parts (start-up, imports) are a large share of each stage;",
        "- the measuring machine has few cores, shared with other work: core-seconds assume a core per process and no contention;",
        "- shared-filesystem I/O is not modelled: on a cluster every stage reads and writes `--out` over the network "
        "(buckets read K x N key files, clusters reads every edge file, apply rewrites the staged corpus);",
        "- `apply` runs in one process here and polars uses every core, so its core-seconds are undercounted up to the core count;",
        "- the duplicate rate is the generated data's (planted copies of a small reservoir); real crawls have many more near "
        "duplicates and larger clusters (boilerplate, mirrors), which moves the clusters task's limit to a smaller input.",
        "",
    ]
    return lines


PUBLISHED = """## Published figures for comparison

Requested resources and user reports, not like-for-like measurements (sources as given; Slurm `time=` values are limits, not run times).

- FineWeb per dump, datatrove `examples/fineweb.py` (huggingface/datatrove): base filtering 8000 tasks x 1 CPU (2 GB/CPU, 10 h limit);
  MinHash signatures 1000 tasks; buckets 14 x 50 = 700 tasks, 3 CPUs x 4 GB; **clusters: one task ("this step runs on a single
  task"), 8 CPUs x 25 GB = 200 GB, 30 h limit**; filter 1000 tasks. MinHash 14 buckets x 8 hashes, 5-grams, 64-bit. The same
  single clusters task in `examples/minhash_deduplication.py` (2 CPUs x 70 GB = 140 GB, 90 h limit) and in FineWeb-2's pipeline
  (huggingface/fineweb-2 `fineweb-2-pipeline.py`: 8 x 25 GB, 30 h; dedup per language, across dumps).
- datatrove's Rust clusters step (`src/datatrove/tools/fast_mh3/README.md`) replaces a Python example asking 900 GB RAM and a 100 h
  limit; its maintainer (datatrove issue #106, 2025-03-03): workloads of "~2days now take 2 hours".
- Users of datatrove: issue #106 (2024-02-26), "1T data": hashes in 2 h on 1k cores, "the cluster stage takes more than 7h";
  issue #298 (2024-10-17): signatures for 8 TB in 61 min with 2400 tasks (about 3.3 GB per task-hour, if a task is one core:
  our arithmetic), buckets for 4 TB in 17-25 min with 300-600 tasks.
- CommonCrawl dumps are "200 to 400 TiB" of text each; FineWeb is 15 T tokens, 44 TB (FineWeb blog, huggingface.co/spaces/HuggingFaceFW/blogpost-fineweb-v1).
- NeMo Curator fuzzy dedup (NVIDIA-NeMo/Curator README, citing docs.nvidia.com/nemo/curator/latest/about/concepts/scaling/throughput):
  RedPajama v2 subset, 3 H100 80 GB nodes: 0.65 h against 10.7 h for an unnamed "CPU-based alternative" (~16x); 1, 2, 4 H100 nodes:
  2.05 h, 1.01 h, 0.50 h; an earlier README version puts the 16x on 8 TB (1.78 T tokens). Older README (2024): 1.1 T tokens of
  RedPajama in 1.8 h on 64 A100 GPUs.
- NeMo's fuzzy dedup identification needs GPUs (cuDF/RAPIDS): the Nemotron-CC recipe (NVIDIA-NeMo/Nemotron) tested one snapshot
  (~1-8 TB) "with 8 H100 GPUs"; removal is CPU-only, "at-least 6GB of RAM" per worker.
- BigCode near-dedup (bigcode-project/bigcode-dataset `near_deduplication/README.md`): 319 GB (42 M docs) in ~40 min on 10
  16-core Spark workers; 1.3 TB in ~5 h on 15 machines.
"""


def comparison(rt: dict, max_gb: float) -> list[str]:
    gb_per_core_h = 3600 / rt["filter_core_s_per_gb"][0] if rt["filter_core_s_per_gb"][0] else math.inf
    fw_gb = input_gb_for_clusters_mb(rt, 200 * 1024)
    eight_tb = project(rt, 8000, 16, 64)
    dedup_h = (eight_tb["times"]["buckets"] + eight_tb["times"]["clusters"] + eight_tb["times"]["apply"]) / 3600
    return [
        "What langmill's measured rates imply against these:",
        "",
        f"langmill's filter stage (language ID, quality filters, PII masking and MinHash keys together) ran at {gb_per_core_h:.2f} GB "
        f"per core-hour, against the ~3.3 GB per task-hour implied for datatrove's signature step alone in issue #298 (different "
        f"hardware and input; `run_all.py` (a) and (c) compare with datatrove on one machine). Its clusters task holds only documents "
        f"with a duplicate, so "
        f"at this data's duplicate rate it would reach FineWeb's 200 GB cluster-task request only at ~{size(fw_gb)} of input, but "
        f"that limit scales inversely with the duplicate rate, likely higher in real crawls than the "
        f"{rt['dup_per_gb'] / max(rt['staged_per_gb'], 1):.1%} of staged documents here (BigCode's near-dedup removed 47% of its "
        f"Java subset). For 8 TB on 16 x 64 CPU cores the "
        f"projected dedup stages (buckets + clusters + apply) take {dedup_h:.2f} h, to set beside NeMo Curator's 0.5-2 h on 1-4 "
        f"GPU nodes and 10.7 h for its CPU baseline; langmill dedups only the documents that passed its filters "
        f"({rt['staged_per_gb'] / max(rt['rows_per_gb'], 1):.0%} of rows here), so this favours it, and the projection is linear "
        f"from ≤ {max_gb:g} GB. It needs no GPU; whether the single clusters task stays within one node on real duplicate rates is what a "
        "real-crawl measurement has to show.",
        "",
    ]


# ---------------------------------------------------------------------------


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=floats, default=[0.1, 0.3, 1.0], help="GB of text to generate, comma-separated (default 0.1,0.3,1.0)")
    parser.add_argument("--workers", type=ints, default=[1, 2], help="--workers values (default 1,2)")
    parser.add_argument("--dedup-tasks", type=ints, default=[1, 8], help="--dedup-tasks values (default 1,8)")
    parser.add_argument("--tasks-per-worker", type=int, default=2, help="--tasks = this x workers (default 2)")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/langmill-scale"), help="inputs (kept for reruns), run folders and logs")
    parser.add_argument("--keep-runs", action="store_true", help="keep each run's output folder (default: removed once measured)")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between memory samples")
    parser.add_argument("--lang", default="fi")
    parser.add_argument("--target-share", type=float, default=0.7, help="share of documents in --lang")
    parser.add_argument("--exact-dups", type=float, default=0.02, help="share of planted exact duplicates")
    parser.add_argument("--near-dups", type=float, default=0.02, help="share of planted near duplicates (~1 word in 100 replaced)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "scale.md", help="Markdown report (default bench/scale.md)")
    parser.add_argument("--from-runs", type=Path, help="write the report from an earlier runs.json instead of measuring")
    parser.add_argument("--dedup-rates", type=Path, default=HERE / "dedup_memory.json",
                        help="bench/dedup_memory.py's measurements (0.5-4 million documents in one buckets task): their lines replace the "
                             "corpus runs' for buckets and clusters memory and time, where the runs hold too few documents (default "
                             "bench/dedup_memory.json; a missing file keeps the runs' lines)")
    args = parser.parse_args()
    if not args.sizes or min(args.sizes) <= 0 or not args.workers or min(args.workers) < 1 or not args.dedup_tasks or min(args.dedup_tasks) < 1:
        parser.error("--sizes, --workers and --dedup-tasks need positive values")

    started, runs = time.monotonic(), []
    if args.from_runs:
        runs = json.loads(args.from_runs.read_text())
        args.sizes = []
    else:
        benchdata.require_shared_data()
        args.data_dir.mkdir(parents=True, exist_ok=True)
    for gb in args.sizes:
        path, _ = cached_input(args, gb)
        for workers in args.workers:
            for k in args.dedup_tasks:
                run = measure_run(args, path, gb, workers, k)
                runs.append(run)
                print(f"{run['name']}: {run['wall_s']:.1f} s; " + ", ".join(f"{s} {run['stage_s'][s]:.1f}" for s in STAGES), flush=True)
    if not args.from_runs:
        (args.data_dir / "runs.json").write_text(json.dumps(runs, indent=1))
    rt = rates(runs)
    if args.dedup_rates and args.dedup_rates.exists():
        rt = with_dedup_rates(rt, json.loads(args.dedup_rates.read_text()))
    text = "\n".join(header(args, started) + measured_tables(runs) + rate_lines(rt) + projection_lines(rt) + [PUBLISHED] + comparison(rt, max(r["gb"] for r in runs)))
    args.out.write_text(text, encoding="utf-8")
    print(f"\n{text}\nMarkdown: {args.out}; raw measurements: {args.data_dir / 'runs.json'}")


if __name__ == "__main__":
    main()
