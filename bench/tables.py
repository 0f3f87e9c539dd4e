"""Markdown sections of the comparison, the floors and the directory measurement (see :mod:`bench.report`)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from cos_multipart import UploadConfig

from .settings import GIB, MIB, human
from .stats import ratio
from .targets import fmt_ratio, median

#: The pairings of the comparison: (heading, this package's client, the official SDK's client).
PAIRINGS = (
    ("defaults against defaults", "ours-default", "official-default"),
    ("same checks: MD5 + CRC-64 against EnableMD5=True", "ours", "official-md5"),
    ("no MD5 on either side: verify_md5=False (CRC-64) against the official default", "ours-no-md5", "official"),
)

MODES = {
    "kernel": "kernel-shaped link (HTB per connection in a network namespace; RTT emulated by the server process)",
    "server": "the server's own per-connection cap and per-request latency (no network namespace here)",
    "loopback": "loopback",
}


def fmt(summary: Optional[Dict[str, float]], digits: int = 1, scale: float = 1.0) -> str:
    """``median (min-max)``, or ``-``."""
    if not summary:
        return "-"
    middle, low, high = summary["median"] * scale, summary["min"] * scale, summary["max"] * scale
    if summary.get("n", 1) == 1 or low == high:
        return f"{middle:.{digits}f}"
    return f"{middle:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def _share(summary: Dict[str, Any], allowed: Optional[float]) -> str:
    value = median(summary.get("throughput_mib_s"))
    if allowed is None or value is None:
        return "-"
    return f"{100 * value / allowed:.0f} %"


def section_compare(data: Dict[str, Any]) -> List[str]:
    threads = data["threads"]
    lines = [
        "## 1. This package against the official SDK: networks, HTTP and HTTPS, defaults and tuned",
        "",
        f"*Defaults*: each SDK called as a user would (official `upload_file`: 1 MB parts, 5 threads, its default "
        f"pool of 10, no MD5; this package's `upload_file`: 8 MiB parts, 8 at once, a pool of 10, MD5 + CRC-64 of every "
        f"part and CRC-64 of the object). *Tuned* (the other two pairings): both with {human(data['part_size'])} parts, "
        f"{threads} threads and a pool of {threads} (official: `PoolConnections={threads}`, `PoolMaxSize=max(10, {threads})`). "
        f"Median (min-max) of {data['runs']} runs per cell, every client in a fresh process, clients alternating; "
        "every object HEAD-checked (size, CRC-64). *Link share*: throughput / (connections x per-connection cap), "
        f"with {threads} connections for the tuned clients (defaults: 8 for this package, 5 for the official SDK). Client CPU: user + sys "
        "of the client process during the upload call. *Cores busy*: (client CPU + server CPU) / wall time; this "
        "machine has 2, so near 2.0 the CPU, not the link, is what bounds the upload.",
        "",
        f"Network: {MODES.get(data.get('network', 'kernel'), data.get('network'))}.",
    ]
    if data.get("probes"):
        lines += ["", "Each shaped link checked once before its runs:", ""]
        rows = [
            [p["shape"], f"{p['cap'] / MIB:.0f} MiB/s", f"{p['rtt'] * 1000:.0f} ms",
             f"{p['put_mib_s']:.1f} MiB/s ({100 * p['put_fraction_of_cap']:.0f} % of the cap, {human(p['put_size'])} in one connection, "
             "connection set-up and answer included)",
             f"{1000 * (p['head_open_connection'] or 0):.1f} ms", f"{1000 * (p['head_new_connection'] or 0):.1f} ms"]
            for p in data["probes"]
        ]  # fmt: skip
        lines += table(["link", "cap", "RTT", "one PUT", "HEAD, open connection", "HEAD, new connection"], rows)
    for each in data["cells"]:
        summary = each["summary"]
        cap = each.get("cap")
        lines += ["", f"**{each['shape']}, {each['scheme'].upper()}** ({human(each['size'])} file):", ""]
        rows = []
        for heading, ours, theirs in PAIRINGS:
            if ours not in summary:
                continue
            mine, other = summary[ours], summary.get(theirs, {})
            connections_theirs = 5 if theirs == "official-default" else threads
            connections_mine = UploadConfig().concurrency if ours == "ours-default" else threads
            rows.append(
                [
                    heading,
                    fmt(mine["throughput_mib_s"], 0),
                    fmt(other.get("throughput_mib_s"), 0),
                    fmt_ratio(ratio(median(mine["throughput_mib_s"]), median(other.get("throughput_mib_s")))),
                    _share(mine, connections_mine * cap / MIB if cap else None),
                    _share(other, connections_theirs * cap / MIB if cap else None),
                    fmt(mine["cpu_per_gib"], 2),
                    fmt(other.get("cpu_per_gib"), 2),
                    fmt(mine["server_cpu_per_gib"], 2) + " / " + fmt(other.get("server_cpu_per_gib"), 2),
                    fmt(mine.get("cores_busy"), 2) + " / " + fmt(other.get("cores_busy"), 2),
                    "yes" if mine["verified"] and other.get("verified", True) else "**NO**",
                ]
            )
        if "put-parallel" in summary:
            floor = summary["put-parallel"]
            rows.append([f"floor: {threads} plain PUTs (no SDK, no hashing)", fmt(floor["throughput_mib_s"], 0), "-", "-",
                         _share(floor, threads * cap / MIB if cap else None), "-", fmt(floor["cpu_per_gib"], 2), "-",
                         fmt(floor["server_cpu_per_gib"], 2), fmt(floor.get("cores_busy"), 2), "yes" if floor["verified"] else "**NO**"])  # fmt: skip
        lines += table(
            ["pairing", "this package MiB/s", "official MiB/s", "ratio", "link share (this)", "link share (official)",
             "client CPU s/GiB (this)", "client CPU s/GiB (official)", "server CPU s/GiB (this / official)",
             "cores busy, client + server (this / official)", "verified"],
            rows,
        )  # fmt: skip
    return lines


FLOOR_LABELS = {
    "md5": "MD5 of the bytes (1 MiB reads, one thread)",
    "crc64": "CRC-64 only (fast backend)",
    "md5+crc64": "MD5 + CRC-64 in one pass: the hashing floor",
    "tls": "TLS encryption of the bytes (memory BIOs, no socket)",
    "put-http": "one streaming PUT, HTTP (no hashing)",
    "put-https": "one streaming PUT, HTTPS (no hashing)",
}


def section_floors(data: Dict[str, Any], compare: Optional[Dict[str, Any]]) -> List[str]:
    summary = data["summary"]
    hashing = median(summary.get("md5+crc64", {}).get("cpu_per_gib"))
    rows = [
        [FLOOR_LABELS.get(name, name), fmt(s["cpu_per_gib"], 2), fmt(s["throughput_mib_s"], 0), fmt_ratio(ratio(median(s["cpu_per_gib"]), hashing))]
        for name, s in summary.items()
    ]
    cipher = ", ".join(" ".join(str(part) for part in c[:2]) for c in data.get("cipher", []))
    lines = [
        "## 2. Floors: what the bytes cost with no SDK",
        "",
        f"A {human(data['size'])} file, each floor in a fresh process, median (min-max) of {data['runs']} runs; the PUTs go "
        f"to the local server on loopback. TLS: {cipher or 'default cipher'}.",
        "",
    ]
    lines += table(["floor", "client CPU s/GiB", "MiB/s", "vs hashing floor"], rows)
    if compare and hashing:
        rows = []
        for each in compare["cells"]:
            if each["shape"] != "loopback":
                continue
            for name in ("ours", "ours-default", "ours-no-md5", "official-md5", "official"):
                s = each["summary"].get(name)
                if not s:
                    continue
                cpu = median(s["cpu_per_gib"])
                transport = median(summary.get(f"put-{each['scheme']}", {}).get("cpu_per_gib"))
                rows.append([f"{name}, {each['scheme'].upper()}", fmt(s["cpu_per_gib"], 2), fmt_ratio(ratio(cpu, hashing)),
                             f"{(cpu or 0) - hashing:+.2f}",
                             fmt_ratio(ratio(cpu, hashing + (transport or 0))) if transport else "-"])  # fmt: skip
        lines += ["", "Client CPU of the uploads on loopback (section 1) against the floors:", ""]
        lines += table(["client", "CPU s/GiB", "vs hashing floor", "s/GiB above it", "vs hashing + one PUT of the same scheme"], rows)
    return lines


DIR_LABELS = {
    "dir-ours": "this package: `upload_directory`",
    "dir-official-pool": "official SDK: `put_object` in a thread pool",
    "dir-official-loop": "official SDK: `put_object` in a simple loop",
    "coscmd": "`coscmd upload -r`",
    "dir-ours-large": "this package: `upload_directory`, large files",
    "dir-cluster-1": "this package: `upload_directory_on_cluster`, 1 Dask worker (2 threads)",
    "dir-cluster-2": "this package: `upload_directory_on_cluster`, 2 Dask workers (2 threads each)",
}


def section_dirs(data: Dict[str, Any]) -> List[str]:
    lines = [
        "## 4. Directories",
        "",
        f"Small files of {human(data['file_size'])} each; {data['concurrency']} requests at once for this package, the "
        f"official SDK's thread pool and coscmd (`max_thread`); median (min-max) of {data['runs']} run(s), clients "
        "alternating, each in a fresh process (coscmd: its own process, timed from start to exit, interpreter start "
        "included); every run checked by a listing (count and total size). The large-file tree is "
        f"{data['large_files']} files of {human(data['large_size'])}.",
    ]
    for name, reason in data.get("skipped", {}).items():
        lines += ["", f"`{name}` not measured: {reason}."]
    for each in data.get("cells", []):
        summary = each["summary"]
        loop = median(summary.get("dir-official-loop", {}).get("files_per_s"))
        rows = []
        for name, s in summary.items():
            large = name == "dir-ours-large"
            rows.append([DIR_LABELS.get(name, name), "-" if large else fmt(s["files_per_s"], 0),
                         fmt(s["gib_per_s"], 3) if large else "-",
                         "-" if large else fmt_ratio(ratio(median(s["files_per_s"]), loop)), fmt(s["cpu"], 1),
                         "-" if large else fmt(s.get("cpu_ms_per_file"), 2), "-" if large else fmt(s.get("server_cpu_ms_per_file"), 2),
                         fmt(s.get("cores_busy"), 2), "yes" if s["verified"] else "**NO**"])  # fmt: skip
        lines += ["", f"**{each['shape']}**, {each['files']:,} small files:", ""]
        lines += table(["client", "files/s", "GiB/s", "vs official loop", "client CPU s", "client CPU ms/file",
                        "server CPU ms/file", "cores busy (client + server)", "verified"], rows)  # fmt: skip
    return lines


__all__ = ["section_compare", "section_floors", "section_dirs", "PAIRINGS", "GIB"]


def section_oss(data: Dict[str, Any]) -> List[str]:
    lines = ["## 11. OSS: this package with dialect=\"oss\" against the OSS SDK's uploader", ""]
    if "cells" not in data:
        return lines + [f"Not run: {data.get('skipped', 'no results')}."]
    lines += [
        "The local server in OSS mode (`LocalCOS(dialect=\"oss\")`), HTTP. *Defaults*: `upload_file` with "
        "`CosClient(dialect=\"oss\")` as a user calls it (8 MiB parts, 8 at once, MD5 + CRC-64) against the OSS SDK's "
        "`client.uploader().upload_file` (6 MiB parts, 3 at once, CRC-64 checked); *same checks*: both "
        f"{human(data['part_size'])} x {data['threads']}, CRC-64 per part on both sides (`verify_md5=False` here). "
        f"Median (min-max) of {data['runs']} runs, clients alternating, each in a fresh process, objects HEAD-checked.",
    ]
    rows = []
    for each in data["cells"]:
        summary = each["summary"]
        for (ours, theirs), heading in zip((("ours-oss-default", "oss-official-default"), ("ours-oss", "oss-official")),
                                           ("defaults against defaults", "same checks: CRC-64 on both sides")):  # fmt: skip
            mine, other = summary.get(ours), summary.get(theirs)
            if not mine or not other:
                continue
            rows.append([each["shape"], heading, fmt(mine["throughput_mib_s"], 0), fmt(other["throughput_mib_s"], 0),
                         fmt_ratio(ratio(median(mine["throughput_mib_s"]), median(other["throughput_mib_s"]))),
                         fmt(mine["cpu_per_gib"], 2), fmt(other["cpu_per_gib"], 2),
                         "yes" if mine["verified"] and other["verified"] else "**NO**"])  # fmt: skip
    lines += [""] + table(["link", "pairing", "this package MiB/s", "OSS SDK MiB/s", "ratio", "client CPU s/GiB (this)",
                           "client CPU s/GiB (OSS SDK)", "verified"], rows)  # fmt: skip
    return lines


def section_partsize(data: Dict[str, Any]) -> List[str]:
    lines = ["## 1b. What bounds the link share: the round trip per part", ""]
    if "cells" not in data:
        return lines + [f"Not run: {data.get('skipped', 'no results')}."]
    allowed = data["threads"] * data["cap"] / MIB
    lines += [
        f"{data['shape']}, HTTP, {data['threads']} connections ({allowed:.0f} MiB/s allowed), a {human(data['size'])} file, "
        f"same checks on both sides; median (min-max) of {data['runs']} runs. *Part transfers*: from the first part's "
        "arrival to the last part's answer (server clock), without Initiate and Complete. Each part leaves its "
        f"connection idle for one round trip while the answer comes back, so at most part / (part + cap x RTT) of "
        "the link can be used; larger parts raise that ceiling.",
        "",
    ]
    rows = []
    for each in data["cells"]:
        part = each["part_size"]
        ceiling = part / (part + data["cap"] * data["rtt"])
        for name, s in each["summary"].items():
            tp, transfer = median(s["throughput_mib_s"]), median(s["transfer_mib_s"])
            rows.append([human(part), LABELS_SHORT.get(name, name), fmt(s["throughput_mib_s"], 0),
                         f"{100 * (tp or 0) / allowed:.0f} %", f"{100 * (transfer or 0) / allowed:.0f} %",
                         "-" if name == "put-parallel" else f"{100 * ceiling:.0f} %", fmt(s.get("cores_busy"), 2)])  # fmt: skip
    return lines + table(["part size", "client", "MiB/s", "link share end to end", "link share, part transfers",
                          "ceiling from the RTT per part", "cores busy"], rows)  # fmt: skip


LABELS_SHORT = {"ours": "this package (MD5 + CRC-64)", "official-md5": "official SDK (EnableMD5=True)",
                "put-parallel": "plain PUTs, one per connection"}  # fmt: skip
