"""``python -m bench ab --old DIR --new DIR``: two source trees of the project, alternating, on the upload paths.

Each tree is a git worktree or a ``git archive`` export of the project (a directory holding
``cos_multipart/``). Every measurement is a fresh child process running ``bench/_ab_child.py`` with
``PYTHONPATH`` set to one tree only, so the same Python and the same installed dependencies run either tree's
``cos_multipart`` (the child reports which file it imported and the run stops if it is not the tree's). The
local server runs in a process of its own from the OLD tree for the whole run, so the server is not what
changes between the two. Per round, every path is measured with the old tree, then with the new one (``--abba``:
the new one first in odd rounds).

Paths: ``threads`` (``upload_file`` of a file), ``asyncio`` (``async_upload_file`` of the same file),
``cluster`` (``upload_file_on_cluster`` over a Dask ``LocalCluster`` of worker processes; the cluster's start is
not timed) and ``stream`` (``upload_file`` reading a pipe that ``cat`` fills from the same file). All with the
same part size and parts in flight, MD5 + CRC-64 checked (the package's default). Every object is HEAD-checked
(size and CRC-64) and deleted by this process.

Reported per path and tree: MiB/s, client CPU seconds per GiB (user + sys of the child during the upload call,
imports and set-up excluded and reported apart; for the cluster the workers' CPU during the call is added),
the child's peak RSS (``VmHWM``; ``ru_maxrss`` from ``os.wait4`` is kept in the JSON) and, for the cluster,
the workers' peak RSS; the server's CPU per GiB; then new/old ratios of the medians.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from .procs import ChildResult, ServerProcess, child_env, pick_data_dir, run_child, server_cpu_during
from .settings import GIB, MIB, human, parse_size
from .stats import ratio, spread
from .suites import check_and_delete, make_file

Log = Callable[[str], None]

#: Every path, in the order they are measured within a round.
PATHS = ("threads", "asyncio", "cluster", "stream")
TREES = ("old", "new")
#: The scripts copied next to each other into a directory of their own, run by path (see the module doc).
CHILD_SCRIPT = Path(__file__).resolve().parent / "_ab_child.py"
SERVER_SCRIPT = Path(__file__).resolve().parent / "_server_main.py"
DEFAULT_JSON = Path(__file__).resolve().parent / "out" / "ab.json"


@dataclass(frozen=True)
class AbSettings:
    """What one ``bench ab`` run measures (the defaults are those of the documented invocation)."""

    old: Path
    new: Path
    rounds: int = 3
    paths: Sequence[str] = PATHS
    size: int = 512 * MIB
    cluster_size: int = 256 * MIB
    part_size: int = 8 * MIB
    concurrency: int = 8
    cluster_workers: int = 2
    cluster_threads: int = 4
    bandwidth: Optional[float] = None
    server_in_memory: bool = True
    #: Odd rounds measure the new tree first (old, new, new, old, ...), so a drift of the machine's load
    #: during the run does not always favour the same tree.
    abba: bool = False

    def tree(self, name: str) -> Path:
        return self.old if name == "old" else self.new

    def order(self, round_number: int) -> Sequence[str]:
        return TREES[::-1] if self.abba and round_number % 2 else TREES

    def size_of(self, path: str) -> int:
        return self.cluster_size if path == "cluster" else self.size


def check_tree(text: str) -> Path:
    """An argparse type: a directory holding the project's ``cos_multipart`` package."""
    tree = Path(text).expanduser().resolve()
    if not (tree / "cos_multipart" / "__init__.py").is_file():
        raise argparse.ArgumentTypeError(f"{text!r} is not a source tree of the project (no cos_multipart/__init__.py in it)")
    return tree


def _paths(text: str) -> tuple[str, ...]:
    names = tuple(item.strip() for item in text.split(",") if item.strip())
    unknown = [name for name in names if name not in PATHS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown path(s) {', '.join(unknown) or text!r}; choose from {','.join(PATHS)}")
    return names


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``bench ab`` (see :func:`settings_from`)."""
    parser.add_argument("--old", type=check_tree, required=True, help="source tree of the old version (its server is used)")
    parser.add_argument("--new", type=check_tree, required=True, help="source tree of the new version")
    parser.add_argument("--rounds", type=_positive_int, default=3, help="rounds; each measures every path with old, then new (default 3)")
    parser.add_argument("--paths", type=_paths, default=PATHS, help=f"comma-separated subset of {','.join(PATHS)} (default all)")
    parser.add_argument("--size", type=parse_size, default=512 * MIB, help="file size of threads, asyncio and stream (default 512MiB)")
    parser.add_argument("--cluster-size", type=parse_size, default=256 * MIB, help="file size of the cluster path (default 256MiB)")
    parser.add_argument("--part-size", type=parse_size, default=8 * MIB, help="part size (default 8MiB)")
    parser.add_argument("--concurrency", type=_positive_int, default=8, help="parts in flight (default 8)")
    parser.add_argument("--cluster-workers", type=_positive_int, default=2, help="Dask worker processes (default 2)")
    parser.add_argument("--cluster-threads", type=_positive_int, default=4, help="threads per Dask worker (default 4)")
    parser.add_argument("--bandwidth", type=parse_size, help="the server's own per-connection cap, bytes/s (default none: loopback)")
    parser.add_argument("--abba", action="store_true", help="odd rounds measure new before old (default: old first in every round)")
    parser.add_argument("--server-on-disk", action="store_true", help="never keep the server's data on /dev/shm")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where the raw results go (default bench/out/ab.json)")
    parser.add_argument("--workdir", type=Path, help="where the test files are written (default: a temporary directory)")


def settings_from(args: argparse.Namespace) -> AbSettings:
    return AbSettings(
        old=args.old, new=args.new, rounds=args.rounds, paths=tuple(args.paths), size=args.size,
        cluster_size=args.cluster_size, part_size=args.part_size, concurrency=args.concurrency,
        cluster_workers=args.cluster_workers, cluster_threads=args.cluster_threads,
        bandwidth=float(args.bandwidth) if args.bandwidth else None, server_in_memory=not args.server_on_disk, abba=args.abba,
    )  # fmt: skip


def tree_env(tree: Path) -> Dict[str, str]:
    """The children's environment with ``PYTHONPATH`` set to ``tree`` alone."""
    env = child_env()
    env["PYTHONPATH"] = str(tree)
    return env


def describe_tree(tree: Path) -> Dict[str, Any]:
    """The tree's path and, for a git checkout, its commit and whether it has uncommitted changes."""
    info: Dict[str, Any] = {"path": str(tree), "commit": None, "dirty": None}
    git = shutil.which("git")
    if git and (tree / ".git").exists():
        head = subprocess.run([git, "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        if head.returncode == 0:
            info["commit"] = head.stdout.strip()
            status = subprocess.run([git, "-C", str(tree), "status", "--porcelain", "--", "cos_multipart"], capture_output=True, text=True)
            info["dirty"] = bool(status.stdout.strip()) if status.returncode == 0 else None
    return info


def run_ab(settings: AbSettings, workdir: Path, log: Log) -> Dict[str, Any]:
    """Measure every path with both trees, alternating, and return the raw runs and their summary."""
    paths = list(settings.paths)
    if "cluster" in paths and importlib.util.find_spec("distributed") is None:
        log("[ab] cluster skipped: dask is not installed (pip install -e '.[dask]')")
        paths.remove("cluster")
    scripts = workdir / "scripts"
    scripts.mkdir()
    # Alone in their directory: the child's sys.path[0] then holds nothing but these two scripts.
    child = shutil.copy(CHILD_SCRIPT, scripts / CHILD_SCRIPT.name)
    server_script = shutil.copy(SERVER_SCRIPT, scripts / SERVER_SCRIPT.name)
    files: Dict[int, tuple[Path, int]] = {}
    for size in sorted({settings.size_of(path) for path in paths}):
        file = workdir / f"ab-{size}.bin"
        files[size] = (file, make_file(file, size))
    data_dir = pick_data_dir(2 * max(files), settings.server_in_memory)
    runs: List[Dict[str, Any]] = []
    launcher = [sys.executable, str(server_script)]
    with ServerProcess(data_dir, bandwidth=settings.bandwidth, launcher=launcher, env=tree_env(settings.old)) as server:
        log(f"[ab] server of the old tree at {server.endpoint} (pid {server.pid}); data in {data_dir}")
        for round_number in range(settings.rounds):
            for path in paths:
                for tree in settings.order(round_number):
                    size = settings.size_of(path)
                    file, crc = files[size]
                    key = f"bench/ab/{path}-{tree}-{round_number}"
                    run = _measure(settings, server, Path(child), tree, path, file, size, crc, key, workdir)
                    run["round"] = round_number
                    runs.append(run)
                    log(
                        f"[ab] round {round_number + 1}/{settings.rounds} {path:8s} {tree}: {run['mib_s']:7.1f} MiB/s, "
                        f"{run['cpu_s_per_gib']:.2f} CPU s/GiB, peak RSS {run['peak_rss_mib']:.0f} MiB, verified={run['verified']}"
                    )
    return {"paths": paths, "runs": runs, "summary": summarize(runs, paths)}


def _measure(
    settings: AbSettings, server: ServerProcess, child: Path, tree: str, path: str, file: Path, size: int, crc: int,
    key: str, workdir: Path,
) -> Dict[str, Any]:  # fmt: skip
    checkpoints = Path(tempfile.mkdtemp(prefix="ckpt-", dir=workdir))
    spec = {
        "path": path, "file": str(file), "key": key, "endpoint": server.endpoint, "bucket": server.bucket,
        "region": server.region, "part_size": settings.part_size, "concurrency": settings.concurrency,
        "checkpoint_dir": str(checkpoints), "cluster_workers": settings.cluster_workers,
        "cluster_threads": settings.cluster_threads,
    }  # fmt: skip
    command = [sys.executable, str(child)]
    env = tree_env(settings.tree(tree))
    feeder: Optional["subprocess.Popen[bytes]"] = None
    try:
        if path == "stream":
            # Another process fills the pipe, so the child's CPU is the uploader's alone.
            feeder = subprocess.Popen(_feeder_command(file), stdout=subprocess.PIPE)
            assert feeder.stdout is not None
            pipe = feeder.stdout.fileno()
            result, server_cpu = server_cpu_during(server, lambda: run_child(spec, command=command, env=env, stdin=pipe))
        else:
            result, server_cpu = server_cpu_during(server, lambda: run_child(spec, command=command, env=env))
    finally:
        if feeder is not None:
            assert feeder.stdout is not None
            feeder.stdout.close()
            feeder.wait(30)
        shutil.rmtree(checkpoints, ignore_errors=True)
    return _record(settings, server, result.check(), server_cpu, tree, path, key, size, crc)


def _feeder_command(file: Path) -> List[str]:
    """``cat FILE``, or the same in Python where there is no ``cat``."""
    cat = shutil.which("cat")
    if cat:
        return [cat, str(file)]
    copy = "import shutil, sys; shutil.copyfileobj(open(sys.argv[1], 'rb'), sys.stdout.buffer, 1 << 20)"
    return [sys.executable, "-c", copy, str(file)]


def _record(
    settings: AbSettings, server: ServerProcess, result: ChildResult, server_cpu: float, tree: str, path: str,
    key: str, size: int, crc: int,
) -> Dict[str, Any]:  # fmt: skip
    out = result.output
    if not out:
        raise RuntimeError(f"the {path} child of the {tree} tree printed no result: {result.stderr[-3000:]}")
    root = settings.tree(tree)
    imported = [out["module_file"], *out.get("workers_module_files", [])]
    strays = [name for name in imported if not Path(name).resolve().is_relative_to(root)]
    if strays:
        # An installed copy shadowed the tree (e.g. a non-editable install): the run would measure the wrong code.
        raise RuntimeError(f"the {tree} tree's child imported cos_multipart from {', '.join(strays)}, not from {root}")
    gib = size / GIB
    cpu = float(out["cpu"]) + float(out.get("workers_cpu") or 0.0)
    verified = out.get("crc64") == crc and out.get("size") == size and check_and_delete(server, "ab", key, size, crc)
    return {
        "tree": tree,
        "path": path,
        "size": size,
        "wall": out["wall"],
        "mib_s": size / MIB / out["wall"],
        "cpu": out["cpu"],
        "workers_cpu": out.get("workers_cpu"),
        "cpu_s_per_gib": cpu / gib,
        "setup_cpu": out.get("setup_cpu"),
        "process_cpu": result.process_cpu,
        "peak_rss_mib": out["peak_rss_mib"],
        "ru_maxrss_mib": result.maxrss_mib,
        "workers_peak_rss_mib": out.get("workers_peak_rss_mib"),
        "server_cpu_s_per_gib": server_cpu / gib,
        "version": out.get("version"),
        "module_file": out["module_file"],
        "verified": bool(verified),
    }


#: Summarised per path and tree: field of a run -> name in the summary.
SUMMARY_FIELDS = ("mib_s", "cpu_s_per_gib", "setup_cpu", "peak_rss_mib", "ru_maxrss_mib", "workers_peak_rss_mib", "server_cpu_s_per_gib")
#: new/old ratios of the medians of these fields.
RATIO_FIELDS = ("mib_s", "cpu_s_per_gib", "peak_rss_mib", "workers_peak_rss_mib")


def summarize(runs: Sequence[Dict[str, Any]], paths: Sequence[str]) -> Dict[str, Any]:
    """``{path: {"old": {field: spread}, "new": {...}, "ratio": {field: new/old}, "verified": bool}}``."""
    summary: Dict[str, Any] = {}
    for path in paths:
        entry: Dict[str, Any] = {}
        for tree in TREES:
            mine = [run for run in runs if run["path"] == path and run["tree"] == tree]
            entry[tree] = {name: spread(run.get(name) for run in mine) for name in SUMMARY_FIELDS}
        entry["ratio"] = {
            name: ratio(entry["new"][name].get("median"), entry["old"][name].get("median")) for name in RATIO_FIELDS
        }
        entry["overlap"] = {name: _overlap(entry["old"][name], entry["new"][name]) for name in RATIO_FIELDS}
        entry["verified"] = all(run["verified"] for run in runs if run["path"] == path)
        summary[path] = entry
    return summary


def _overlap(old: Dict[str, float], new: Dict[str, float]) -> Optional[bool]:
    """Whether the two trees' ranges (min-max over the rounds) overlap: then the difference is within the noise
    of this run. ``None`` when either is missing or is one round only (one value has no range)."""
    if not old or not new or min(old.get("n", 1), new.get("n", 1)) < 2:
        return None
    return bool(old["min"] <= new["max"] and new["min"] <= old["max"])


def _fmt(summary: Dict[str, float], digits: int) -> str:
    if not summary:
        return "-"
    middle, low, high = summary["median"], summary["min"], summary["max"]
    if summary.get("n", 1) == 1 or low == high:
        return f"{middle:.{digits}f}"
    return f"{middle:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def _ratio(value: Optional[float], overlap: Optional[bool] = None) -> str:
    if value is None:
        return "-"
    # "*": the ranges of the rounds do not overlap, the difference is larger than this run's noise.
    return f"{value:.3f}" + ("*" if overlap is False else "")


def render(results: Dict[str, Any]) -> str:
    """The report printed at the end: one table per tree and path, then the new/old ratios."""
    settings = results["settings"]
    lines = [
        f"old: {_tree_line(results['trees']['old'])}",
        f"new: {_tree_line(results['trees']['new'])}",
        f"server: the old tree's, in its own process; {settings['rounds']} round(s), "
        f"{'old then new, new then old' if settings.get('abba') else 'old then new'} per path; "
        f"{human(settings['part_size'])} parts, {settings['concurrency']} in flight, MD5 + CRC-64; "
        f"{human(settings['size'])} file (cluster {human(settings['cluster_size'])}, {settings['cluster_workers']} "
        f"workers x {settings['cluster_threads']} threads); "
        + ("loopback" if not settings.get("bandwidth") else f"server cap {human(settings['bandwidth'])}/s per connection"),
        f"{results['when']}, {results['seconds']:.0f} s",
        "",
        "| path | tree | MiB/s | client CPU s/GiB | set-up CPU s | peak RSS MiB | ru_maxrss MiB | workers peak RSS MiB "
        "| server CPU s/GiB | verified |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    summary = results["summary"]
    for path in results["paths"]:
        for tree in TREES:
            numbers = summary[path][tree]
            lines.append(
                f"| {path} | {tree} | {_fmt(numbers['mib_s'], 1)} | {_fmt(numbers['cpu_s_per_gib'], 2)} | "
                f"{_fmt(numbers['setup_cpu'], 2)} | {_fmt(numbers['peak_rss_mib'], 0)} | {_fmt(numbers['ru_maxrss_mib'], 0)} | "
                f"{_fmt(numbers['workers_peak_rss_mib'], 0)} | {_fmt(numbers['server_cpu_s_per_gib'], 2)} | "
                f"{'yes' if summary[path]['verified'] else 'NO'} |"
            )
    lines += [
        "",
        "| path | MiB/s new/old | CPU s/GiB new/old | peak RSS new/old | workers peak RSS new/old |",
        "|---|---|---|---|---|",
    ]
    for path in results["paths"]:
        ratios, overlap = summary[path]["ratio"], summary[path].get("overlap", {})
        lines.append(
            "| " + " | ".join([path, *(_ratio(ratios[name], overlap.get(name)) for name in RATIO_FIELDS)]) + " |"
        )
    lines += [
        "",
        "MiB/s higher is better; CPU s/GiB and RSS lower are better; medians (min-max) of the rounds; "
        "*: the two trees' ranges do not overlap (a difference beyond this run's noise).",
    ]
    return "\n".join(lines)


def _tree_line(info: Dict[str, Any]) -> str:
    where = f"commit {info['commit']}" + (" + uncommitted changes" if info.get("dirty") else "") if info.get("commit") else "export"
    return f"{info['path']} ({where}, cos_multipart {info.get('version') or '?'})"


def command_ab(args: argparse.Namespace, argv: List[str], log: Log) -> int:
    """Run ``bench ab``: measure, write the JSON, print the report to stdout."""
    settings = settings_from(args)
    workdir = Path(tempfile.mkdtemp(prefix="cos-bench-ab-", dir=args.workdir))
    started = time.time()
    try:
        data = run_ab(settings, workdir, log)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    trees = {name: describe_tree(settings.tree(name)) for name in TREES}
    for name in TREES:
        versions = {run["version"] for run in data["runs"] if run["tree"] == name}
        trees[name]["version"] = ", ".join(sorted(str(v) for v in versions))
    results: Dict[str, Any] = {
        "command": "python -m bench " + " ".join(argv),
        "when": datetime.datetime.fromtimestamp(started, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": time.time() - started,
        "settings": {
            "rounds": settings.rounds, "size": settings.size, "cluster_size": settings.cluster_size,
            "part_size": settings.part_size, "concurrency": settings.concurrency,
            "cluster_workers": settings.cluster_workers, "cluster_threads": settings.cluster_threads,
            "bandwidth": settings.bandwidth, "abba": settings.abba, "python": sys.executable,
        },  # fmt: skip
        "trees": trees,
        **data,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    print(render(results), flush=True)
    log(f"[ab] wrote {args.json} ({results['seconds']:.0f} s)")
    return 0 if all(entry["verified"] for entry in data["summary"].values()) else 1


__all__ = ["PATHS", "AbSettings", "add_arguments", "command_ab", "render", "run_ab", "summarize"]
