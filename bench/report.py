"""Render results (the JSON ``python -m bench run`` writes) as ``docs/benchmarks.md`` and PNG plots.

The prose that interprets a particular run lives in ``bench/notes.md`` and is inserted as it is (so is
``bench/ab.md``, how to compare two checkouts, at the end); everything
else (tables, ratios, target verdicts) is computed here from the numbers, so re-running the benchmark
re-renders a consistent document.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from .settings import MIB, human
from .stats import ratio
from .tables import PAIRINGS, fmt, section_compare, section_dirs, section_floors, section_oss, section_partsize
from .targets import fmt_ratio, targets

NOTES = Path(__file__).resolve().parent / "notes.md"
#: How to compare two checkouts with ``python -m bench ab`` (not from the results: inserted as it is, last).
AB_NOTES = Path(__file__).resolve().parent / "ab.md"
#: Issue 25's goals against their anchors, before and after (``python -m bench goals``), inserted at the end.
GOALS_NOTES = Path(__file__).resolve().parent / "goals.md"
#: The download benchmark's notes (``python -m bench.download`` runs on its own; its page section is kept here).
DOWNLOAD_NOTES = Path(__file__).resolve().parent / "download.md"
#: The copy benchmark's section (``python -m bench.copy`` runs on its own).
COPY_NOTES = Path(__file__).resolve().parent / "copy.md"

LABELS = {
    "ours": "this package (MD5 + CRC-64)",
    "ours-default": "this package at its defaults",
    "official-md5": "official SDK, EnableMD5=True",
    "official-default": "official SDK at its defaults",
    "ours-fast": "cos-multipart (fastcrc)",
    "ours-crcmod": "cos-multipart (crcmod only)",
    "ours-no-md5": "cos-multipart, verify_md5=False (parts checked by CRC-64 only)",
    "official": "official SDK `upload_file`",
    "put": "floor: 1 streaming PUT, no hashing",
    "put-parallel": "floor: N streaming PUTs, no hashing",
    "md5": "floor: MD5 of the file (no upload)",
    "ours-sign": "cos-multipart `sign()`",
    "ours-auth": "cos-multipart `CosAuth` on a prepared request",
}


SHORT = {
    "ours-fast": "cos-multipart\nfastcrc",
    "ours-crcmod": "cos-multipart\ncrcmod",
    "ours-no-md5": "verify_md5=False",
    "official": "official SDK",
    "put": "floor:\n1 PUT",
    "put-parallel": "floor:\nN PUTs",
    "md5": "floor:\nMD5 only",
}
COLORS = {"ours": "#2b7bba", "official-md5": "#d9822b", "ours-fast": "#2b7bba", "ours-crcmod": "#7fb2dc", "ours-no-md5": "#b7d3ea", "official": "#d9822b", "put": "#999999", "put-parallel": "#777777", "md5": "#555555"}


def label(name: str) -> str:
    return LABELS.get(name, name)




def median(summary: Optional[Dict[str, float]]) -> Optional[float]:
    return summary.get("median") if summary else None


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


# --- Sections ------------------------------------------------------------------------------------------------


def section_machine(results: Dict[str, Any]) -> List[str]:
    info = results.get("machine", {})
    versions = info.get("versions", {})
    rows = [
        ["CPU", f"{info.get('cpu')} ({info.get('nproc')} logical cores)"],
        ["memory", f"{info.get('memory_gib')} GiB"],
        ["OS", str(info.get("os"))],
        ["Python", str(info.get("python"))],
        ["load average (1, 5, 15 min) after the last measurement", str(info.get("load_average", info.get("load_average_at_start")))],
        ["crcmod C extension", "yes" if info.get("crcmod_c_extension") else "no (pure Python, ~17 MB/s)"],
    ]
    rows.extend([f"`{name}`", str(value)] for name, value in versions.items())
    lines = ["## Machine and versions", ""]
    lines += table(["", ""], rows)
    lines += ["", f"Whole run: `{results.get('command', 'python -m bench run')}`"]
    if results.get("seconds"):
        lines[-1] += f" ({results['seconds'] / 60:.1f} minutes)."
    per_suite = [f"`{name}`: {data.get('when', '?')}, {data.get('seconds', 0):.0f} s" for name, data in results["suites"].items()]
    lines += ["", "Measured: " + "; ".join(per_suite) + "."]
    if results.get("note"):
        lines += ["", f"**Note:** {results['note']}"]
    if results.get("smoke"):
        lines += ["", "**These are smoke-test sizes: the numbers mean nothing.**"]
    return lines


def section_targets(results: Dict[str, Any]) -> List[str]:
    rows = []
    for target, measured, met in targets(results):
        verdict = "-" if met is None else ("**met**" if met else "**not met**")
        rows.append([target, measured, verdict])
    if not rows:
        return []
    return ["## Targets", ""] + table(["target (issue 15)", "measured", ""], rows)


def section_upload(data: Dict[str, Any], img: Optional[str]) -> List[str]:
    summary = data["summary"]
    official = summary.get("official", {})
    floor_cpu = median(summary.get("md5", {}).get("cpu_per_gib"))
    rows = []
    for name in data["clients"]:
        s = summary[name]
        rows.append(
            [
                label(name),
                fmt(s["throughput_mib_s"], 0),
                fmt_ratio(ratio(median(s["throughput_mib_s"]), median(official.get("throughput_mib_s")))) if official and name != "md5" else "-",
                fmt(s["transfer_mib_s"], 0),
                fmt(s["cpu_per_gib"], 2),
                fmt_ratio(ratio(median(s["cpu_per_gib"]), floor_cpu)),
                fmt(s["process_cpu_per_gib"], 2),
                fmt(s["server_cpu_per_gib"], 2),
                fmt(s["maxrss_mib"], 0),
                "yes" if s["verified"] else "**NO**",
            ]
        )
    lines = [
        "## 12. One large file on loopback (extra)",
        "",
        f"{human(data['size'])} of random bytes, {human(data['part_size'])} parts, {data['threads']} threads for both SDKs "
        f"(and {data['threads']} PUTs for the parallel floor), {data['runs']} runs with the client order rotated each run; "
        f"server data on {data.get('server_data', 'disk')}. Median (min-max).",
        "",
    ]
    lines += table(
        [
            "client",
            "MiB/s end to end",
            "vs official",
            "MiB/s part transfers",
            "client CPU s/GiB",
            "vs MD5 floor",
            "process CPU s/GiB",
            "server CPU s/GiB",
            "peak RSS MiB",
            "object verified",
        ],
        rows,
    )
    lines += [
        "",
        "* *End to end*: file size / wall time of the upload call (Initiate to Complete, including the server "
        "assembling the object). *Part transfers*: file size / time from the first part arriving at the server "
        "to the last part answered (server clock), i.e. without Initiate and Complete.",
        "* *Client CPU*: user + system time of the client process during the upload call (all threads; "
        "`getrusage` in the child). *Process CPU*: the whole child process from `os.wait4`, interpreter start and "
        "imports included. *Server CPU*: the server process during the same interval (`/proc/<pid>/stat`).",
        "* *Peak RSS*: the child's `VmHWM` (high-water mark of its own address space, imports included). "
        "`ru_maxrss` from `os.wait4` is kept in the JSON but not shown: Linux carries the RSS of the parent "
        "that spawned the child over the `exec`.",
        "* *Object verified*: after each run the benchmark HEADs the object and compares its size and CRC-64 with "
        "the file's (floors: sizes only), then deletes it.",
    ]
    if img:
        lines += ["", f"![upload throughput and CPU]({img})"]
    return lines


def section_scaling(data: Dict[str, Any], img: Optional[str]) -> List[str]:
    clients = data["clients"]
    lines = [
        "## 3. Concurrency scaling under a per-connection cap",
        "",
        f"Every connection capped ({'by the kernel; the server process emulates a' if data.get('network') == 'kernel' else 'by the server, which adds a'} "
        f"{data['latency'] * 1000:.0f} ms round trip); both SDKs with the same checks (this package's MD5 + CRC-64, the "
        "official `EnableMD5=True`). "
        f"Efficiency = throughput / (workers x cap); median (min-max) of {data['runs']} run(s). *Part transfers*: "
        "from the first part's arrival to the last part's answer (server clock); *end to end*: the whole upload "
        "call, including Initiate and Complete (the local server renames the parts into the object: "
        "milliseconds).",
    ]
    for shape in data["shapes"]:
        cap = shape["bandwidth"]
        header = ["workers", "file", "cap"]
        for name in clients:
            header += [f"{label(name)}: part transfers", "end to end", "MiB/s", "client CPU s", "server CPU s"]
        rows = []
        for workers in data["workers"]:
            size = workers * shape["parts_per_worker"] * data["part_size"]
            row = [str(workers), human(size), f"{workers * cap / MIB:.0f} MiB/s"]
            for name in clients:
                s = shape["summary"][name][str(workers)]
                row += [
                    fmt(s["transfer_efficiency"], 0, 100) + " %",
                    fmt(s["efficiency"], 0, 100) + " %",
                    fmt(s["throughput_mib_s"], 0),
                    fmt(s.get("cpu"), 2),
                    fmt(s.get("server_cpu"), 2),
                ]
            rows.append(row)
        lines += [
            "",
            f"**{cap / MIB:.0f} MiB/s per connection**, {shape['parts_per_worker']} parts of {human(data['part_size'])} per worker:",
            "",
        ]
        lines += table(header, rows)
    if img:
        lines += ["", f"![scaling efficiency]({img})"]
    return lines


def section_cluster(data: Dict[str, Any]) -> List[str]:
    if "summary" not in data:
        return ["## 6. Drivers: one object over Dask workers", "", f"Not run: {data.get('skipped', 'no results')}."]
    cap = data["bandwidth"]
    threads = data["threads"]
    lines = [
        "## 6. Drivers: one object over Dask workers",
        "",
        f"One file uploaded by `upload_file_on_cluster` on a `LocalCluster` of N worker processes with {threads} "
        f"threads each (so N x {threads} connections), the server capping every connection at {cap / MIB:.0f} MiB/s; "
        f"the file is N x {threads} x {data['parts_per_connection']} parts of {human(data['part_size'])}. The reference "
        f"is the threaded uploader in one process with as many threads. Efficiency = throughput / (workers x "
        f"{threads} connections x cap); median (min-max) of {data['runs']} run(s); the cluster's start is not timed.",
    ]
    machine = data.get("machine") or {}
    if machine:
        lines += [
            f"Measured {data.get('when', '')} on {machine.get('cpu', '?')} ({machine.get('nproc', '?')} logical cores, "
            f"load average {machine.get('load_average', '?')} after it), which may differ from the machine below."
        ]
    lines += [""]
    header = ["workers", "connections", "file", "cap", "cluster: part transfers", "end to end", "MiB/s",
              "threads: part transfers", "end to end", "MiB/s"]  # fmt: skip
    rows = []
    for workers in data["workers"]:
        connections = workers * threads
        size = connections * data["parts_per_connection"] * data["part_size"]
        row = [str(workers), str(connections), human(size), f"{connections * cap / MIB:.0f} MiB/s"]
        for name in ("cluster", "threads"):
            s = data["summary"][name][str(workers)]
            row += [
                fmt(s["transfer_efficiency"], 0, 100) + " %",
                fmt(s["efficiency"], 0, 100) + " %",
                fmt(s["throughput_mib_s"], 0),
            ]
        rows.append(row)
    return lines + table(header, rows)


def section_memory(data: Dict[str, Any], img: Optional[str]) -> List[str]:
    clients = data["clients"]
    rows = []
    for size in data["sizes"]:
        row = [human(size)]
        for name in clients:
            match = [r for r in data["raw"] if r["client"] == name and r["size"] == size]
            row.append(f"{match[0]['maxrss_mib']:.0f}" + ("" if match[0]["verified"] else " (NOT verified)") if match else "-")
        rows.append(row)
    lines = [
        "## 7. Memory against file size",
        "",
        f"Peak RSS of the client process (its `VmHWM`, MiB), {data['threads']} threads, {human(data['part_size'])} parts. "
        f"Target for cos-multipart: below 64 MiB + {data['threads']} x {human(data['part_size'])} = {data['target_mib']:.0f} MiB "
        "and flat. Server data on disk here (a tmpfs would hold the largest file twice: the file and the stored object).",
        "",
    ]
    lines += table(["file"] + [f"{label(name)}" for name in clients], rows)
    after_import = {r["client"]: r.get("rss_after_import_mib") for r in data["raw"]}
    parts = [f"{label(name)} {value:.0f} MiB" for name, value in after_import.items() if value]
    if parts:
        lines += ["", "RSS after the imports, before the upload: " + "; ".join(parts) + "."]
    if img:
        lines += ["", f"![peak RSS against file size]({img})"]
    return lines


def section_crc(data: Dict[str, Any], img: Optional[str]) -> List[str]:
    rows = []
    for name, by_threads in data["throughput_mib_s"].items():
        one, two = by_threads.get("1"), by_threads.get("2")
        rows.append([name, f"{one:,.0f}" if one else "-", f"{two:,.0f}" if two else "-", fmt_ratio(ratio(two, one))])
    combine = data["combine"]
    lines = [
        "## 8. CRC-64 backends and combine",
        "",
        f"Throughput over a {human(data['buffer'])} buffer hashed in {human(data['chunk'])} calls (the uploader hashes "
        "what it reads, 1 MiB at a time); with 2 threads each thread hashes its own copy and the figure is the sum. "
        f"Default backend here: `{data['default_backend']}`.",
        "",
    ]
    lines += table(["function", "MiB/s, 1 thread", "MiB/s, 2 threads", "2-thread speed-up"], rows)
    lines += [
        "",
        f"Combining {combine['parts']:,} part CRCs (all {human(data.get('part_size', 8 * MIB)) if data.get('part_size') else '8 MiB'} but a shorter last part) into the object's "
        f"CRC with `crc64_combine_all`: **{combine['cold_seconds'] * 1000:.1f} ms** with empty operator caches "
        f"(two operator builds), {combine['warm_seconds'] * 1000:.1f} ms warm; median of 5. Combination checked "
        f"against a direct CRC: {'correct' if combine['correct'] else 'WRONG'}.",
    ]
    if img:
        lines += ["", f"![CRC-64 throughput]({img})"]
    return lines


def section_sign(data: Dict[str, Any]) -> List[str]:
    values = data["microseconds"]
    official = median(values.get("official"))
    names = {"official": "official SDK `CosS3Auth` on a prepared request"}
    rows = [
        [names.get(name, label(name)), fmt(s, 1), fmt_ratio(ratio(official, median(s))) if official and name != "official" else "-"]
        for name, s in values.items()
    ]
    same = data.get("same_authorization")
    lines = [
        "## 9. Signing",
        "",
        f"Microseconds per `Authorization` header for an Upload Part request (`PUT` with partNumber, uploadId, "
        f"Content-Length, Content-Type and one `x-cos-meta-*` header); median (min-max) of 5 timings of "
        f"{data['iterations']:,} signatures.",
        "",
    ]
    lines += table(["signer", "us per header", "official / this"], rows)
    if same is not None:
        lines += [
            "",
            "Given the same second, both signers produce "
            + ("**the same** Authorization value, so they do the same work." if same else "**different** Authorization values (different header lists)."),
        ]
    return lines


def section_resume(data: Dict[str, Any]) -> List[str]:
    rows = []
    for name in data["clients"]:
        s = data["summary"][name]
        mine = [r for r in data["raw"] if r["client"] == name]
        rows.append(
            [
                label(name),
                ", ".join(str(r["killed_after_parts"]) for r in mine),
                fmt(s["resume_wall"], 2),
                fmt(s["resume_cpu"], 2),
                fmt(s.get("resume_cpu_per_needed_gib"), 2),
                fmt(s["needed_fraction"], 0, 100) + " %",
                fmt(s["resent_fraction"], 0, 100) + " %",
                fmt(s["extra_mib"], 0),
                "yes" if s["verified"] else "**NO**",
            ]
        )
    parts = -(-data["size"] // data["part_size"])
    lines = [
        "## 10. Resume after an interruption at 50 %",
        "",
        f"A {human(data['size'])} upload ({parts} parts of {human(data['part_size'])}, {data['threads']} threads) is "
        f"killed with SIGKILL as soon as the server has stored {parts // 2} parts (a crash: parts in flight are lost), "
        "then the same upload is started again in a fresh process and timed. *Needed*: bytes the server did not "
        "have yet; *re-sent*: UploadPart bytes the second run sent (server access log). Median (min-max)."
        + (f" The server capped each connection at {data['bandwidth'] / MIB:.0f} MiB/s." if data.get("bandwidth") else ""),
        "",
    ]
    lines += table(
        ["client", "parts stored at the kill", "resume s", "resume CPU s", "resume CPU s per needed GiB", "needed", "re-sent", "re-sent beyond needed, MiB", "object verified"],
        rows,
    )
    return lines


# --- Plots ------------------------------------------------------------------------------------------------------


#: The section each plot belongs to, and its file.
_PLOT_FILES = {
    "upload": "bench-upload.png", "compare": "bench-compare.png", "scaling": "bench-scaling.png",
    "memory": "bench-memory.png", "crc": "bench-crc.png",
}


def plots(results: Dict[str, Any], img_dir: Path, docs: Path) -> Dict[str, str]:
    """Write the PNG plots; returns section -> path relative to the markdown file (empty without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        # The plots an earlier run with matplotlib drew stay linked (a report regenerated to add prose must not
        # drop them from the page).
        return {section: _relative(img_dir / name, docs) for section, name in _PLOT_FILES.items() if (img_dir / name).exists()}
    img_dir.mkdir(parents=True, exist_ok=True)
    written: Dict[str, str] = {}
    suites = results["suites"]

    def save(figure: Any, section: str) -> None:
        path = img_dir / _PLOT_FILES[section]
        figure.tight_layout()
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written[section] = _relative(path, docs)

    if "upload" in suites:
        data = suites["upload"]
        names = data["clients"]
        figure, (left, right) = plt.subplots(1, 2, figsize=(14, 4.8))
        _bars(left, names, [data["summary"][n]["throughput_mib_s"] for n in names], "MiB/s end to end")
        left.set_title(f"Upload of {human(data['size'])}: throughput (median, min-max)")
        _bars(right, names, [data["summary"][n]["cpu_per_gib"] for n in names], "client CPU s per GiB")
        right.set_title("Client CPU per GiB (user + sys)")
        save(figure, "upload")
    if "compare" in suites and suites["compare"].get("cells"):
        data = suites["compare"]
        cells = data["cells"]
        figure, axis = plt.subplots(figsize=(12, 4.8))
        width = 0.8 / len(PAIRINGS)
        for index, (heading, ours, theirs) in enumerate(PAIRINGS):
            values = [
                ratio(median(c["summary"].get(ours, {}).get("throughput_mib_s")), median(c["summary"].get(theirs, {}).get("throughput_mib_s"))) or 0
                for c in cells
            ]
            axis.bar([i + (index - 1) * width for i in range(len(cells))], values, width, label=heading.split(":")[0])
        axis.axhline(1.0, color="grey", linestyle=":")
        axis.axhline(1.5, color="grey", linestyle="--", linewidth=0.8, label="1.5x (target at defaults, 20 MiB/s 30 ms)")
        axis.set_xticks(range(len(cells)), [f"{c['shape']}\n{c['scheme'].upper()}" for c in cells], fontsize=8)
        axis.set_ylabel("this package / official SDK (throughput)")
        axis.set_title("Throughput ratio per network and scheme (median)")
        axis.legend(fontsize=8)
        save(figure, "compare")
    if "scaling" in suites:
        data = suites["scaling"]
        shapes = data["shapes"]
        figure, axes = plt.subplots(1, len(shapes), figsize=(6 * len(shapes), 4.5), squeeze=False)
        for axis, shape in zip(axes[0], shapes):
            xs = data["workers"]
            for name in data["clients"]:
                for key, style, what in (("transfer_efficiency", "-o", "part transfers"), ("efficiency", "--x", "end to end")):
                    ys = [100 * (median(shape["summary"][name][str(w)][key]) or 0) for w in xs]
                    axis.plot(xs, ys, style, color=COLORS.get(name), label=f"{label(name)}, {what}")
            axis.axhline(85, color="grey", linestyle=":", label="target 85 %")
            axis.set_xscale("log", base=2)
            axis.set_xticks(xs, [str(w) for w in xs])
            axis.set_ylim(0, 105)
            axis.set_xlabel("workers")
            axis.set_ylabel("% of workers x per-connection cap")
            axis.set_title(f"{shape['bandwidth'] / MIB:.0f} MiB/s per connection, {data['latency'] * 1000:.0f} ms latency")
            axis.legend(fontsize=7, loc="lower left")
        save(figure, "scaling")
    if "memory" in suites:
        data = suites["memory"]
        figure, axis = plt.subplots(figsize=(7, 4.5))
        for name in data["clients"]:
            points = sorted((r["size"], r["maxrss_mib"]) for r in data["raw"] if r["client"] == name)
            axis.plot([p[0] / MIB for p in points], [p[1] for p in points], "-o", color=COLORS.get(name), label=label(name))
        axis.axhline(data["target_mib"], color="grey", linestyle=":", label=f"target {data['target_mib']:.0f} MiB")
        axis.set_xscale("log", base=2)
        sizes = [size / MIB for size in data["sizes"]]
        axis.set_xticks(sizes, [human(size) for size in data["sizes"]])
        axis.set_xlabel("file size")
        axis.set_ylabel("peak RSS, MiB")
        axis.set_ylim(bottom=0)
        axis.set_title("Peak RSS of the client process")
        axis.legend(fontsize=8)
        save(figure, "memory")
    if "crc" in suites:
        data = suites["crc"]
        figure, axis = plt.subplots(figsize=(7, 4.5))
        names = list(data["throughput_mib_s"])
        width = 0.38
        for offset, threads in ((-width / 2, "1"), (width / 2, "2")):
            axis.bar([i + offset for i in range(len(names))], [data["throughput_mib_s"][n].get(threads, 0) for n in names], width, label=f"{threads} thread(s)")
        axis.set_xticks(range(len(names)), names)
        axis.set_yscale("log")
        axis.set_ylabel("MiB/s (log scale)")
        axis.set_title("Hash throughput")
        axis.legend()
        save(figure, "crc")
    return written


def _bars(axis: Any, names: List[str], summaries: List[Dict[str, float]], ylabel: str) -> None:
    medians = [s.get("median", 0) if s else 0 for s in summaries]
    low = [m - s.get("min", m) if s else 0 for m, s in zip(medians, summaries)]
    high = [s.get("max", m) - m if s else 0 for m, s in zip(medians, summaries)]
    colors = [COLORS.get(n, "#4878a8") for n in names]
    axis.bar(range(len(names)), medians, yerr=[low, high], capsize=4, color=colors)
    axis.set_xticks(range(len(names)), [SHORT.get(n, n) for n in names], fontsize=8)
    axis.set_ylabel(ylabel)


def _relative(path: Path, docs: Path) -> str:
    try:
        return str(path.resolve().relative_to(docs.resolve().parent))
    except ValueError:
        return str(path.resolve())


# --- Document ---------------------------------------------------------------------------------------------------


INTRO = """# Benchmarks

cos-multipart against the official Tencent COS Python SDK (`cos-python-sdk-v5`) and `coscmd`, all uploading to
the bundled local COS server (`cos_multipart.testing.LocalCOS`) in one run on one machine: on loopback and on
links capped per connection with a round trip (20 MiB/s + 30 ms, 100 MiB/s + 5 ms), over HTTP and HTTPS, each
SDK at its defaults and both tuned alike, with the same checks and without. Generated by `python -m bench run`
from `bench/`; the raw results behind this page are `bench/results.json` (`python -m bench report` re-renders it).

How it is measured:

* The server runs in a process of its own; every upload runs in a **fresh child process**; clients alternate
  (the order rotates each run); medians with (min-max). A client's CPU time and peak RSS are that client's only.
* **Links.** As root, the clients run in a network namespace joined to the host by a veth pair made for the
  run (`bench/netshape.py`); the server listens on the host end only. The kernel caps every TCP connection
  (an HTB class per connection, picked by a classic-BPF classifier on the source port; the cap is a TCP
  payload rate), so the cap costs no process any CPU. This kernel has no `netem` and no `fq`, so the round trip
  is emulated by the server process: each answer leaves one RTT after its request body was read, and each new
  connection waits one RTT (two with TLS) before it is served. TCP's slow start over a long RTT is not
  reproduced. `lo` and the host's interfaces are never shaped. Without root (the smoke test) the server's own
  cap and latency stand in.
* **Checks.** *This package* computes MD5 and CRC-64 of every part and checks both against the answers
  (`verify_md5=False`: CRC-64 only), checks the object's CRC-64 and writes a checkpoint. *The official SDK*
  with `EnableMD5=True` computes each part's MD5 and sends it as Content-MD5 (the server checks it); at its
  default it hashes and checks nothing.
* **Floors** are what the bytes cost with no SDK: MD5, CRC-64, TLS encryption, one streaming PUT.
* The server computes MD5 and CRC-64 of every byte and stores it (tmpfs), as COS would, and it shares the
  **2 cores** with the client: on loopback every CPU second the client spends is taken from the server.
* Test files are random bytes in the page cache (no disk reads are measured).
"""


def render(results: Dict[str, Any], docs: Path, img_dir: Path) -> None:
    """Write the markdown report (and plots when matplotlib is installed)."""
    images = plots(results, img_dir, docs)
    suites = results["suites"]
    lines: List[str] = [INTRO.rstrip(), ""]
    lines += section_targets(results) + [""]
    if NOTES.exists() and not results.get("smoke"):
        lines += [NOTES.read_text().rstrip(), ""]
    builders: Dict[str, Callable[[Dict[str, Any]], List[str]]] = {
        "compare": lambda d: section_compare(d) + (["", f"![throughput ratios]({images['compare']})"] if "compare" in images else []),
        "partsize": section_partsize,
        "floors": lambda d: section_floors(d, suites.get("compare")),
        "scaling": lambda d: section_scaling(d, images.get("scaling")),
        "dirs": section_dirs,
        "async": section_async,
        "cluster": section_cluster,
        "memory": lambda d: section_memory(d, images.get("memory")),
        "crc": lambda d: section_crc(d, images.get("crc")),
        "sign": section_sign,
        "resume": section_resume,
        "oss": section_oss,
        "upload": lambda d: section_upload(d, images.get("upload")),
    }
    for name, build in builders.items():
        if name in suites:
            lines += build(suites[name]) + [""]
    if COPY_NOTES.exists():
        lines += [COPY_NOTES.read_text().rstrip(), ""]
    lines += section_machine(results) + [""]
    if not images:
        lines += ["(No plots: matplotlib is not installed; `pip install -e '.[bench]'`.)", ""]
    lines += section_commands(results)
    if AB_NOTES.exists():
        lines += ["", AB_NOTES.read_text().rstrip()]
    if DOWNLOAD_NOTES.exists():
        lines += ["", DOWNLOAD_NOTES.read_text().rstrip()]
    if GOALS_NOTES.exists():
        lines += ["", GOALS_NOTES.read_text().rstrip()]
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text("\n".join(lines).rstrip() + "\n")


def section_async(data: Dict[str, Any]) -> List[str]:
    mode = {"kernel": "the kernel caps", "server": "the server caps"}.get(data.get("network", ""), "the server caps")
    lines = [
        "## 5. Drivers: threads against asyncio",
        "",
        f"{human(data['part_size'])} parts, {data.get('parts_per_slot', 4)} per slot in flight (so the file grows with the "
        f"depth); {mode} each connection at {data['bandwidth'] / MIB:.0f} MiB/s with a {data['latency'] * 1000:.0f} ms round "
        "trip, so many parts must be in flight to fill the pipe. *Threads*: `upload_file` with `concurrency` = parts "
        "in flight (one thread each); *asyncio*: `cos_multipart.aio.async_upload_file`, the same `concurrency` as tasks. "
        "*Link share*: throughput / (in flight x cap). Client CPU per GiB (user + sys, all threads) and peak RSS of the "
        f"client process; median (min-max) of {data['runs']} run(s), drivers alternating; every object checked.",
        "",
    ]
    header = ["in flight"]
    for name in data["drivers"]:
        header += [f"{name}: MiB/s", "link share", "CPU s/GiB", "peak RSS MiB"]
    rows = []
    for in_flight in data["in_flight"]:
        row = [str(in_flight)]
        for name in data["drivers"]:
            s = data["summary"][name][str(in_flight)]
            row += [fmt(s["throughput_mib_s"], 1), fmt(s.get("efficiency"), 0, 100) + " %", fmt(s["cpu_s_per_gib"], 2), fmt(s["maxrss_mib"], 0)]
        rows.append(row)
    return lines + table(header, rows)


def section_commands(results: Dict[str, Any]) -> List[str]:
    commands = sorted({data.get("command", "") for data in results["suites"].values() if data.get("command")})
    lines = [
        "## Re-running",
        "",
        "```sh",
        "pip install -e '.[bench]'          # matplotlib and cos-python-sdk-v5",
        "python -m bench run                # everything, full sizes (~20 min on 2 cores; as root for the shaped links)",
        "python -m bench run --only compare,floors --compare-runs 3",
        "python3 -m venv bench/out/coscmd-venv && bench/out/coscmd-venv/bin/pip install coscmd   # for the coscmd row",
        "python -m bench run --smoke --docs /tmp/b.md --img /tmp/img --results /tmp/r.json   # seconds",
        "python -m bench report             # re-render from bench/out/results.json (else bench/results.json)",
        "```",
        "",
        "Command lines that produced the numbers above:",
        "",
    ]
    lines += [f"* `{command}`" for command in commands]
    lines += ["", "Settings: " + json.dumps(_settings_of(results), sort_keys=True)]
    return lines


def _settings_of(results: Dict[str, Any]) -> Dict[str, Any]:
    for data in results["suites"].values():
        if "settings" in data:
            settings = dict(data["settings"])
            settings.pop("suites", None)
            return settings
    return {}


__all__ = ["render", "targets"]
