"""``python -m bench goals``: every goal of issue 25 against its anchor, in one run (old and new trees alternating).

Each measurement is a fresh child process (``python -m bench._child``, or the command itself for the start-up),
started in a directory of its own that links ``cos_multipart`` to the tree measured and ``bench`` to this one's,
so the jobs are the same code for both trees and only the package differs (each child reports the file it
imported, and the run stops if it is not the tree's). The official SDK and the floors do not depend on the tree:
they are measured once per round. One local server (loopback, data in ``/dev/shm`` when it fits) serves the run.

Goals and anchors (each printed as a ratio; "client CPU" is user + sys of the client process):

* **start-up**: ``cos-multipart --help``, whole process, <= 0.15 s (``python -c 'import qcloud_cos'`` beside it);
* **small files** (``--files`` x 4 KiB, loopback: no round trip): ``upload_directory`` client CPU per file <= 0.5x
  the official SDK's ``put_object`` loop, its files/s >= 1.5x the loop's; ``upload_file`` called per file beside;
* **CPU per verified GiB** (``--size``, 8 MiB x 8, loopback): with MD5 <= 1.3x the MD5 + CRC-64 floor, CRC-64
  only <= 1.3x the CRC-64 + one streaming PUT floor (the call itself; the whole process, set-up included,
  beside it); never slower than the official SDK (MD5 on both sides; CRC-64 only against its default);
* **peak RSS** of the upload (52-54 MiB before issue 25).

* **the link**: a ``--link-size`` file (1 GiB) uploaded at the package's defaults (as a user calls
  ``upload_file``: its own part size, 8 at once) over 20 MiB/s per connection + 30 ms: >= 93 % of 8 x 20 MiB/s.
  The cap is the kernel's (clients in a network namespace: root); without root the link is skipped, as the
  server's own pacing would measure the server, not the part size.

The load average is recorded with every child.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .netshape import LinkShape
from .network import Network
from .procs import ServerProcess, child_env, pick_data_dir
from .settings import GIB, MIB, parse_size
from .stats import spread
from .suites import make_file

Log = Callable[[str], None]
BENCH = Path(__file__).resolve().parent
DEFAULT_JSON = BENCH / "out" / "goals.json"
SMALL_FILE = 4096


@dataclass(frozen=True)
class GoalSettings:
    """What one ``bench goals`` run measures."""

    trees: Tuple[Tuple[str, Path], ...]
    rounds: int = 3
    files: int = 2000
    size: int = 512 * MIB
    part_size: int = 8 * MIB
    threads: int = 8
    dir_concurrency: int = 16
    official: bool = True
    link: bool = True
    link_size: int = 1024 * MIB


#: The link of the part-size goal: 20 MiB/s per connection and a 30 ms round trip (as in docs/benchmarks.md).
LINK = LinkShape("20MiB/s 30ms", 20 * MIB, 0.030)
LINK_CONNECTIONS = 8


@dataclass
class Child:
    """A finished child: its JSON output and the kernel's accounting of the whole process."""

    output: Dict[str, Any]
    process_cpu: float
    load: float


def run_process(command: Sequence[str], cwd: Path, env: Dict[str, str], timeout: float = 900.0) -> Child:
    """Run ``command`` in ``cwd``; its last stdout line as JSON (if any) and its CPU from ``os.wait4``."""
    load = os.getloadavg()[0]
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        process = subprocess.Popen(list(command), cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
            time.sleep(0.01)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(command)[:200]} failed ({process.returncode}): {err.read()[-3000:]}")
        lines = [line for line in out.read().splitlines() if line.strip()]
    try:
        output: Dict[str, Any] = json.loads(lines[-1]) if lines else {}
    except ValueError:
        output = {}
    return Child(output if isinstance(output, dict) else {}, usage.ru_utime + usage.ru_stime, load)


class Trees:
    """A directory per tree linking its ``cos_multipart`` and this ``bench`` (see the module doc)."""

    def __init__(self, workdir: Path, trees: Sequence[Tuple[str, Path]]) -> None:
        self.dirs: Dict[str, Path] = {}
        for name, tree in trees:
            where = workdir / "trees" / name
            where.mkdir(parents=True, exist_ok=True)
            (where / "cos_multipart").symlink_to(tree / "cos_multipart", target_is_directory=True)
            (where / "bench").symlink_to(BENCH, target_is_directory=True)
            self.dirs[name] = where
            # Byte-compiled first, as an install does: where PYTHONDONTWRITEBYTECODE is set and the tree has no
            # up-to-date .pyc, every child would compile the modules it imports again (+0.08 s on a 0.04 s --help).
            compileall.compile_dir(str(tree / "cos_multipart"), quiet=1)

    def env(self) -> Dict[str, str]:
        env = child_env()
        env.pop("PYTHONPATH", None)  # the working directory comes first on sys.path for "python -m"
        return env

    def job(self, tree: str, spec: Dict[str, Any], prefix: Sequence[str] = ()) -> Child:
        command = [*prefix, sys.executable, "-m", "bench._child", json.dumps(spec)]
        child = run_process(command, self.dirs[tree], self.env())
        module = child.output.get("module_file")
        if module is not None and not str(module).startswith(str(self.dirs[tree])):
            raise RuntimeError(f"the {tree} child imported {module}, not its tree's package")
        return child

    def command(self, tree: str, code: Sequence[str]) -> Child:
        return run_process([sys.executable, *code], self.dirs[tree], self.env())


def _common(server: ServerProcess, workdir: Path) -> Dict[str, Any]:
    return {"endpoint": server.endpoint, "domain": f"{server.host}:{server.port}", "scheme": server.scheme,
            "ca": server.ca_path, "bucket": server.bucket, "region": server.region,
            "checkpoint_dir": str(workdir / "checkpoints")}  # fmt: skip


def _record(results: List[Dict[str, Any]], log: Log, **fields: Any) -> None:
    results.append(fields)
    shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in fields.items() if k not in ("raw",)}
    log(f"[goals] {shown}")


def _startup(trees: Trees, names: Sequence[str], official: bool, results: List[Dict[str, Any]], round_: int, log: Log) -> None:
    for tree in names:
        for label, code in (("help", ["-m", "cos_multipart", "--help"]), ("import", ["-c", "import cos_multipart"])):
            child = trees.command(tree, code)
            _record(results, log, kind="startup", what=label, tree=tree, round=round_, cpu=child.process_cpu, load=child.load)
    first = names[0]
    baseline = trees.command(first, ["-c", "pass"])
    _record(results, log, kind="startup", what="python", tree="-", round=round_, cpu=baseline.process_cpu, load=baseline.load)
    if official:
        child = trees.command(first, ["-c", "import qcloud_cos"])
        _record(results, log, kind="startup", what="import-official", tree="official", round=round_, cpu=child.process_cpu, load=child.load)


def _small(trees: Trees, names: Sequence[str], settings: GoalSettings, server: ServerProcess, root: Path, workdir: Path,
           results: List[Dict[str, Any]], round_: int, log: Log) -> None:  # fmt: skip
    jobs: List[Tuple[str, str]] = [(tree, job) for tree in names for job in ("dir-ours", "files-ours")]
    if settings.official:
        jobs.append(("official", "dir-official-loop"))
    for tree, job in jobs:
        spec = {**_common(server, workdir), "job": job, "root": str(root), "prefix": f"goals/{tree}-{job}-{round_}",
                "threads": settings.dir_concurrency, "warm": 20}  # fmt: skip
        child = trees.job(names[0] if tree == "official" else tree, spec)
        files = int(child.output["files"])
        _record(results, log, kind="small", what=job, tree=tree, round=round_, files=files,
                cpu_per_file_ms=1000 * child.output["cpu"] / files, files_per_s=files / child.output["wall"],
                load=child.load)  # fmt: skip
        _delete_prefix(server, spec["prefix"])


def _delete_prefix(server: ServerProcess, prefix: str) -> None:
    with server.client() as client:
        keys = [item.key for item in client.list_objects(prefix)]
        for start in range(0, len(keys), 1000):
            client.delete_objects(keys[start : start + 1000])


def _large(trees: Trees, names: Sequence[str], settings: GoalSettings, server: ServerProcess, path: Path, workdir: Path,
           results: List[Dict[str, Any]], round_: int, log: Log) -> None:  # fmt: skip
    gib = settings.size / GIB
    common = {**_common(server, workdir), "path": str(path), "part_size": settings.part_size, "threads": settings.threads}
    runs: List[Tuple[str, str, Dict[str, Any]]] = []
    for tree in names:
        runs += [(tree, "ours-md5", {"job": "ours", "md5": True}), (tree, "ours-crc", {"job": "ours", "md5": False})]
    if settings.official:
        runs += [("official", "official-md5", {"job": "official", "md5": True}), ("official", "official", {"job": "official", "md5": False})]
    runs += [("floor", "md5+crc64", {"job": "md5", "hashes": ["md5", "crc64"]}), ("floor", "crc64", {"job": "md5", "hashes": ["crc64"]}),
             ("floor", "put", {"job": "put", "threads": 1})]  # fmt: skip
    for tree, what, extra in runs:
        key = f"goals/large-{tree}-{what}-{round_}"
        child = trees.job(names[0] if tree in ("official", "floor") else tree, {**common, **extra, "key": key})
        out = child.output
        _record(results, log, kind="large", what=what, tree=tree, round=round_, cpu_per_gib=out["cpu"] / gib,
                process_cpu_per_gib=child.process_cpu / gib, setup_cpu=child.process_cpu - out["cpu"],
                mib_s=settings.size / MIB / out["wall"], peak_rss_mib=out.get("peak_rss_mib"), load=child.load)  # fmt: skip
        if extra["job"] != "md5":
            _delete_prefix(server, key)


def _link(trees: Trees, names: Sequence[str], settings: GoalSettings, workdir: Path, results: List[Dict[str, Any]],
          log: Log) -> None:  # fmt: skip
    """Each tree at its defaults over :data:`LINK` (clients in the kernel-shaped namespace), ``rounds`` times."""
    network = Network(log, kernel=True)
    path = workdir / "link.bin"
    try:
        if network.link() is None:
            log("[goals] no kernel-shaped link here (needs root and the network namespace): the link goal is skipped")
            return
        make_file(path, settings.link_size)
        with network.serve(LINK, pick_data_dir(2 * settings.link_size, True)) as served:
            for round_ in range(settings.rounds):
                for tree in names if round_ % 2 == 0 else names[::-1]:
                    key = f"goals/link-{tree}-{round_}"
                    spec = {**_common(served.server, workdir), "job": "ours", "defaults": True, "path": str(path),
                            "key": key, "threads": LINK_CONNECTIONS, "part_size": settings.part_size}  # fmt: skip
                    child = trees.job(tree, spec, prefix=served.prefix)
                    rate = settings.link_size / child.output["wall"]
                    _record(results, log, kind="link", what="ours-default", tree=tree, round=round_, mib_s=rate / MIB,
                            share=rate / (LINK_CONNECTIONS * (LINK.cap or 1)), load=child.load)  # fmt: skip
                    _delete_prefix(served.server, key)
    finally:
        path.unlink(missing_ok=True)
        network.close()


def run_goals(settings: GoalSettings, workdir: Path, log: Log) -> Dict[str, Any]:
    """Every measurement, ``rounds`` times, trees alternating (ABBA); returns the raw records and the summary."""
    names = [name for name, _ in settings.trees]
    trees = Trees(workdir, settings.trees)
    root = workdir / "small"
    for index in range(settings.files + 20):
        target = root / f"d{index // 100:04d}" / f"f{index:06d}.bin"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(os.urandom(SMALL_FILE))
    path = workdir / "large.bin"
    make_file(path, settings.size)
    results: List[Dict[str, Any]] = []
    started = time.time()
    with ServerProcess(pick_data_dir(3 * settings.size, True)) as server:
        for round_ in range(settings.rounds):
            order = names if round_ % 2 == 0 else names[::-1]
            _startup(trees, order, settings.official, results, round_, log)
            _small(trees, order, settings, server, root, workdir, results, round_, log)
            _large(trees, order, settings, server, path, workdir, results, round_, log)
    path.unlink(missing_ok=True)
    if settings.link:
        _link(trees, names, settings, workdir, results, log)
    return {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)), "seconds": time.time() - started,
            "settings": {"rounds": settings.rounds, "files": settings.files, "size": settings.size,
                         "part_size": settings.part_size, "threads": settings.threads, "link_size": settings.link_size if settings.link else None,
                         "trees": {name: str(tree) for name, tree in settings.trees}},
            "raw": results, "summary": summarize(results, names)}  # fmt: skip


def _median(results: List[Dict[str, Any]], field: str, **match: Any) -> Optional[float]:
    values = [r[field] for r in results if all(r.get(k) == v for k, v in match.items()) and r.get(field) is not None]
    return spread(values)["median"] if values else None


def summarize(results: List[Dict[str, Any]], names: Sequence[str]) -> Dict[str, Any]:
    """Medians per tree and the goal ratios (``None`` where a side was not measured)."""

    def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
        return a / b if a is not None and b else None

    loop_cpu = _median(results, "cpu_per_file_ms", kind="small", what="dir-official-loop")
    loop_rate = _median(results, "files_per_s", kind="small", what="dir-official-loop")
    floor_md5 = _median(results, "cpu_per_gib", kind="large", what="md5+crc64")
    floor_crc = _median(results, "cpu_per_gib", kind="large", what="crc64")
    floor_put = _median(results, "cpu_per_gib", kind="large", what="put")
    official_md5 = _median(results, "mib_s", kind="large", what="official-md5")
    official = _median(results, "mib_s", kind="large", what="official")
    summary: Dict[str, Any] = {
        "anchors": {"official_loop_cpu_per_file_ms": loop_cpu, "official_loop_files_per_s": loop_rate,
                    "floor_md5_crc64_s_per_gib": floor_md5, "floor_crc64_s_per_gib": floor_crc,
                    "floor_put_s_per_gib": floor_put, "official_md5_mib_s": official_md5, "official_mib_s": official,
                    "official_import_s": _median(results, "cpu", kind="startup", what="import-official"),
                    "python_s": _median(results, "cpu", kind="startup", what="python")},  # fmt: skip
    }
    for tree in names:
        mine: Dict[str, Any] = {
            "help_s": _median(results, "cpu", kind="startup", what="help", tree=tree),
            "import_s": _median(results, "cpu", kind="startup", what="import", tree=tree),
            "dir_cpu_per_file_ms": _median(results, "cpu_per_file_ms", kind="small", what="dir-ours", tree=tree),
            "dir_files_per_s": _median(results, "files_per_s", kind="small", what="dir-ours", tree=tree),
            "file_cpu_per_file_ms": _median(results, "cpu_per_file_ms", kind="small", what="files-ours", tree=tree),
            "md5_s_per_gib": _median(results, "cpu_per_gib", kind="large", what="ours-md5", tree=tree),
            "md5_process_s_per_gib": _median(results, "process_cpu_per_gib", kind="large", what="ours-md5", tree=tree),
            "crc_s_per_gib": _median(results, "cpu_per_gib", kind="large", what="ours-crc", tree=tree),
            "crc_process_s_per_gib": _median(results, "process_cpu_per_gib", kind="large", what="ours-crc", tree=tree),
            "setup_s": _median(results, "setup_cpu", kind="large", what="ours-crc", tree=tree),
            "md5_mib_s": _median(results, "mib_s", kind="large", what="ours-md5", tree=tree),
            "crc_mib_s": _median(results, "mib_s", kind="large", what="ours-crc", tree=tree),
            "peak_rss_mib": _median(results, "peak_rss_mib", kind="large", what="ours-md5", tree=tree),
            "link_share": _median(results, "share", kind="link", tree=tree),
        }
        floor_crc_put = floor_crc + floor_put if floor_crc is not None and floor_put is not None else None
        mine["goals"] = {
            "help <= 0.15 s": mine["help_s"],
            "small files CPU per file / official loop <= 0.5": ratio(mine["dir_cpu_per_file_ms"], loop_cpu),
            "small files files/s / official loop >= 1.5": ratio(mine["dir_files_per_s"], loop_rate),
            "MD5 CPU per GiB / (MD5 + CRC-64 floor) <= 1.3": ratio(mine["md5_s_per_gib"], floor_md5),
            "CRC-only CPU per GiB / (CRC-64 + PUT floor) <= 1.3": ratio(mine["crc_s_per_gib"], floor_crc_put),
            "MiB/s with MD5 / official with MD5 >= 1": ratio(mine["md5_mib_s"], official_md5),
            "MiB/s CRC-only / official default >= 1": ratio(mine["crc_mib_s"], official),
            "1 GiB at defaults, share of 8 x 20 MiB/s + 30 ms >= 0.93": mine["link_share"],
        }
        summary[tree] = mine
    return summary


def render(data: Dict[str, Any]) -> str:
    """The summary as markdown: one column per tree, each goal's ratio, then the anchors."""
    summary = data["summary"]
    names = list(data["settings"]["trees"])
    loads = [r["load"] for r in data["raw"] if r.get("load") is not None]
    lines = [f"`python -m bench goals` of {data['when']}: {data['settings']['rounds']} rounds, trees alternating; "
             f"load average {min(loads):.1f}-{max(loads):.1f} (2 cores) during the run.", "",
             "| goal | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]  # fmt: skip

    def cell(value: Optional[float]) -> str:
        return "-" if value is None else f"{value:.2f}"

    for goal in summary[names[0]]["goals"]:
        lines.append(f"| {goal} | " + " | ".join(cell(summary[name]["goals"][goal]) for name in names) + " |")
    lines += ["", "| median | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for field in summary[names[0]]:
        if field != "goals":
            lines.append(f"| {field} | " + " | ".join(cell(summary[name][field]) for name in names) + " |")
    lines += ["", "Anchors: " + ", ".join(f"{name} {cell(value)}" for name, value in summary["anchors"].items()) + "."]
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``bench goals``."""
    parser.add_argument("--old", type=Path, help="source tree of the old version (measured alternating with --new)")
    parser.add_argument("--new", type=Path, default=BENCH.parent, help="source tree of the new version (default: this one)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--files", type=int, default=2000, help="small files of 4 KiB (default 2000)")
    parser.add_argument("--size", type=parse_size, default=512 * MIB, help="file size of the CPU-per-GiB uploads (default 512MiB)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one round: checks the code paths in seconds")
    parser.add_argument("--no-official", action="store_true", help="do not run the official SDK")
    parser.add_argument("--no-link", action="store_true", help="skip the shaped link (20 MiB/s + 30 ms; needs root)")
    parser.add_argument("--link-size", type=parse_size, default=1024 * MIB, help="file size on the shaped link (default 1GiB)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where the results go (default bench/out/goals.json)")
    parser.add_argument("--workdir", type=Path, help="where test files are written (default: a temporary directory)")


def command_goals(args: argparse.Namespace, argv: List[str], log: Log) -> int:
    trees = [("old", args.old.resolve())] if args.old is not None else []
    trees.append(("new", args.new.resolve()))
    for _, tree in trees:
        if not (tree / "cos_multipart" / "__init__.py").is_file():
            raise SystemExit(f"{tree} is not a source tree of the project (no cos_multipart/__init__.py in it)")
    settings = GoalSettings(
        trees=tuple(trees), rounds=1 if args.smoke else args.rounds, files=40 if args.smoke else args.files,
        size=16 * MIB if args.smoke else args.size, official=not args.no_official,
        link=not (args.no_link or args.smoke), link_size=args.link_size,
    )  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="cos-goals-", dir=args.workdir))
    try:
        data = run_goals(settings, workdir, log)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    data["command"] = "python -m bench " + " ".join(argv)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(data, indent=1))
    print(render(data))
    return 0


__all__ = ["GoalSettings", "add_arguments", "command_goals", "render", "run_goals", "summarize"]
