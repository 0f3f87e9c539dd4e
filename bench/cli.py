"""``python -m bench run|report|ab``: run measurements, write the JSON results, render the report.

Examples::

    python -m bench run                         # everything, full sizes (about 20 minutes on 2 cores, as root)
    python -m bench run --only upload,crc       # some measurements (merged into the existing results)
    python -m bench run --smoke --docs /tmp/b.md --img /tmp/img --results /tmp/r.json   # seconds
    python -m bench report                      # re-render docs/benchmarks.md (bench/out/results.json, else
                                                # bench/results.json: the run behind the committed report)
    python -m bench ab --old /tmp/old --new .   # two source trees alternating on the upload paths
    python -m bench goals --old /tmp/old        # issue 25's goals against their anchors, old and new trees
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from . import ab, goals, machine
from .report import render
from .network import Network
from .registry import SUITE_FUNCTIONS
from .settings import EXTRA_SUITES, FULL, SMOKE, SUITES, Settings, parse_size
from .suites import default_log

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS = ROOT / "bench" / "out" / "results.json"
#: The results behind the committed docs/benchmarks.md (``report`` falls back to it).
SNAPSHOT = ROOT / "bench" / "results.json"
DEFAULT_DOCS = ROOT / "docs" / "benchmarks.md"
DEFAULT_IMG = ROOT / "docs" / "img"


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(parse_size(item) for item in text.split(",") if item.strip())


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(item) for item in text.split(",") if item.strip())


def _shapes(text: str) -> tuple[tuple[float, int], ...]:
    shapes = []
    for item in text.split(","):
        cap, _, parts = item.partition(":")
        try:
            shapes.append((float(parse_size(cap)), int(parts or 6)))
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"not a shape: {item!r} (use CAP:PARTS, e.g. 20MiB:6)") from error
    return tuple(shapes)


def _suites(text: str) -> tuple[str, ...]:
    names = tuple(item.strip() for item in text.split(",") if item.strip())
    unknown = [name for name in names if name not in SUITES + EXTRA_SUITES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown measurement(s) {', '.join(unknown)}; choose from {', '.join(SUITES + EXTRA_SUITES)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    paths = argparse.ArgumentParser(add_help=False)
    paths.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help=f"JSON results (default {DEFAULT_RESULTS.relative_to(ROOT)})")
    paths.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help="markdown report to write (default docs/benchmarks.md)")
    paths.add_argument("--img", type=Path, default=DEFAULT_IMG, help="directory of the PNG plots (default docs/img)")

    run = commands.add_parser("run", parents=[paths], help="run measurements and render the report")
    run.add_argument("--smoke", action="store_true", help="tiny sizes: checks the code paths in seconds")
    run.add_argument("--only", type=_suites, help=f"comma-separated subset of {','.join(SUITES)}")
    run.add_argument("--no-netns", action="store_true", help="never make the network namespace: the server shapes the links")
    run.add_argument("--compare-runs", type=int, help="repetitions per cell of the comparison (default 3)")
    run.add_argument("--compare-size", type=parse_size, help="file size of the comparison on loopback (default 512MiB)")
    run.add_argument("--compare-shaped-size", type=parse_size, help="file size of the comparison on capped links (default 256MiB)")
    run.add_argument("--dir-files", type=int, help="small files of the directory measurement (default 10000)")
    run.add_argument("--dir-runs", type=int, help="repetitions of the directory measurement (default 2)")
    run.add_argument("--size", type=parse_size, help="file size of the (extra) upload measurement (default 1GiB)")
    run.add_argument("--part-size", type=parse_size, help="part size (default 8MiB)")
    run.add_argument("--threads", type=int, help="parallel parts (default 8)")
    run.add_argument("--runs", type=int, help="repetitions of the upload measurement (default 5)")
    run.add_argument("--scaling-workers", type=_ints, help="worker counts (default 1,2,4,8,16)")
    run.add_argument(
        "--scaling-shapes",
        type=_shapes,
        help="per-connection caps (bytes/s) and parts per worker, e.g. 20MiB:6,5MiB:3 (the default)",
    )
    run.add_argument("--scaling-latency", type=float, help="seconds added per request (default 0.02)")
    run.add_argument("--scaling-runs", type=int, help="repetitions of the scaling measurement (default 3)")
    run.add_argument("--memory-sizes", type=_sizes, help="file sizes of the memory measurement (default 256MiB,1GiB,4GiB)")
    run.add_argument("--resume-size", type=parse_size, help="file size of the resume measurement (default 1GiB)")
    run.add_argument("--resume-runs", type=int, help="repetitions of the resume measurement (default 3)")
    run.add_argument("--async-size", type=parse_size, help="file size of the async measurement (default 512MiB)")
    run.add_argument("--async-part-size", type=parse_size, help="part size of the async measurement (default 1MiB)")
    run.add_argument("--async-in-flight", type=_ints, help="parts in flight of the async measurement (default 8,64,256)")
    run.add_argument("--async-bandwidth", type=parse_size, help="per-connection cap of the async measurement (default 2MiB)")
    run.add_argument("--async-latency", type=float, help="seconds added per request in the async measurement (default 0.05)")
    run.add_argument("--async-runs", type=int, help="repetitions of the async measurement (default 2)")
    run.add_argument("--no-official", action="store_true", help="do not run the official SDK")
    run.add_argument("--server-on-disk", action="store_true", help="never keep the server's data on /dev/shm")
    run.add_argument("--workdir", type=Path, help="where test files are written (default: a temporary directory)")
    run.add_argument("--note", default="", help="a sentence printed in the report (e.g. 'the machine was shared')")
    run.set_defaults(handler=command_run)

    report = commands.add_parser("report", parents=[paths], help="render the report from existing results")
    report.set_defaults(handler=command_report)

    compare_trees = commands.add_parser(
        "ab", help="two source trees of the project (old, new) alternating on the upload paths; report to stdout",
        description=ab.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    ab.add_arguments(compare_trees)
    compare_trees.set_defaults(handler=lambda args, argv: ab.command_ab(args, argv, default_log))

    goal_run = commands.add_parser(
        "goals", help="each goal of issue 25 against its anchor in one run (start-up, small files, CPU per GiB, RSS)",
        description=goals.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    goals.add_arguments(goal_run)
    goal_run.set_defaults(handler=lambda args, argv: goals.command_goals(args, argv, default_log))
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    settings = SMOKE if args.smoke else FULL
    overrides: Dict[str, Any] = {}
    for option, name in (
        ("compare_runs", "compare_runs"),
        ("compare_size", "compare_size_loopback"),
        ("compare_shaped_size", "compare_size_shaped"),
        ("dir_files", "dir_files"),
        ("dir_runs", "dir_runs"),
        ("size", "size"),
        ("part_size", "part_size"),
        ("threads", "threads"),
        ("runs", "runs"),
        ("scaling_workers", "scaling_workers"),
        ("scaling_shapes", "scaling_shapes"),
        ("scaling_latency", "scaling_latency"),
        ("scaling_runs", "scaling_runs"),
        ("memory_sizes", "memory_sizes"),
        ("resume_size", "resume_size"),
        ("resume_runs", "resume_runs"),
        ("async_size", "async_size"),
        ("async_part_size", "async_part_size"),
        ("async_in_flight", "async_in_flight"),
        ("async_bandwidth", "async_bandwidth"),
        ("async_latency", "async_latency"),
        ("async_runs", "async_runs"),
        ("only", "suites"),
    ):
        value = getattr(args, option)
        if value is not None:
            overrides[name] = value
    if args.no_official:
        overrides["skip_official"] = True
    if args.server_on_disk:
        overrides["server_in_memory"] = False
    if args.no_netns:
        overrides["kernel_shape"] = False
    return settings.but(**overrides)


def load_results(path: Path) -> Dict[str, Any]:
    try:
        data: Dict[str, Any] = json.loads(path.read_text())
        return data
    except (OSError, ValueError):
        return {"suites": {}}


def command_run(args: argparse.Namespace, argv: List[str]) -> int:
    settings = settings_from(args)
    results = load_results(args.results) if args.only else {"suites": {}}
    results.setdefault("suites", {})
    command = "python -m bench " + " ".join(shlex.quote(arg) for arg in argv)
    workdir = Path(tempfile.mkdtemp(prefix="cos-bench-", dir=args.workdir))
    started = time.time()
    network = Network(default_log, kernel=settings.kernel_shape)
    try:
        for name in settings.suites:
            default_log(f"== {name}")
            suite_started = time.time()
            data = SUITE_FUNCTIONS[name](settings, workdir, default_log, network)
            data["command"] = command
            data["settings"] = settings.as_dict()
            data["machine"] = machine.describe()
            data["when"] = datetime.datetime.fromtimestamp(suite_started, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            data["seconds"] = time.time() - suite_started
            results["suites"][name] = data
            _save(args.results, results)
    finally:
        network.close()
        shutil.rmtree(workdir, ignore_errors=True)
    results["machine"] = machine.describe()
    results["command"] = command if not args.only else results.get("command", command)
    results["seconds"] = time.time() - started if not args.only else results.get("seconds")
    if args.note:
        results["note"] = args.note
    results["smoke"] = bool(args.smoke)
    _save(args.results, results)
    render(results, args.docs, args.img)
    default_log(f"wrote {args.results}, {args.docs} and plots in {args.img} ({time.time() - started:.0f} s)")
    return 0


def command_report(args: argparse.Namespace, argv: List[str]) -> int:
    path = args.results
    if path == DEFAULT_RESULTS and not path.exists():
        path = SNAPSHOT
    results = load_results(path)
    if not results.get("suites"):
        print(f"no results in {args.results}: run 'python -m bench run' first", file=sys.stderr)
        return 1
    render(results, args.docs, args.img)
    return 0


def _save(path: Path, results: Dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(results, indent=1))
    temporary.replace(path)


def main(argv: Optional[List[str]] = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(arguments)
    handler = args.handler
    return int(handler(args, arguments))
