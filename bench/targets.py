"""The targets of issue 15, judged from a run's results: ``(target, measured, met)`` rows.

Every verdict is computed from medians; ``met`` is ``None`` when the run did not measure what a target needs.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from .settings import GIB, MIB, human
from .stats import ratio

Verdict = Tuple[str, str, Optional[bool]]


def median(summary: Optional[Dict[str, Any]]) -> Optional[float]:
    value = summary.get("median") if summary else None
    return float(value) if value is not None else None


def fmt_ratio(value: Optional[float], digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}x"


def cell(compare: Dict[str, Any], shape: str, scheme: str) -> Optional[Dict[str, Any]]:
    for each in compare.get("cells", []):
        if each["shape"] == shape and each["scheme"] == scheme:
            found: Dict[str, Any] = each
            return found
    return None


def throughput(cell_data: Optional[Dict[str, Any]], client: str) -> Optional[float]:
    if not cell_data or client not in cell_data["summary"]:
        return None
    return median(cell_data["summary"][client]["throughput_mib_s"])


def cpu_per_gib(cell_data: Optional[Dict[str, Any]], client: str) -> Optional[float]:
    if not cell_data or client not in cell_data["summary"]:
        return None
    return median(cell_data["summary"][client]["cpu_per_gib"])


def floor_cpu(floors: Dict[str, Any], name: str) -> Optional[float]:
    return median(floors.get("summary", {}).get(name, {}).get("cpu_per_gib"))


def cpu_target(suites: Dict[str, Any]) -> List[Verdict]:
    compare, floors = suites.get("compare"), suites.get("floors")
    if not compare or not floors:
        return []
    hashing = floor_cpu(floors, "md5+crc64")
    put = floor_cpu(floors, "put-http")
    loopback = cell(compare, "loopback", "http")
    ours = cpu_per_gib(loopback, "ours")
    value = ratio(ours, hashing)
    with_put = ratio(ours, (hashing or 0) + (put or 0)) if hashing and put else None
    measured = (
        f"{ours:.2f} s/GiB = {fmt_ratio(value)} the MD5 + CRC-64 floor ({hashing:.2f} s/GiB), "
        f"{ours - hashing:+.2f} s/GiB above it; {fmt_ratio(with_put)} the floor plus one streaming PUT "
        f"({(hashing or 0) + (put or 0):.2f} s/GiB)"
        if ours is not None and hashing is not None
        else "-"
    )
    return [("client CPU per verified GiB <= 1.15x the MD5 + CRC-64 floor (loopback HTTP, 8 MiB x 8)", measured,
             None if value is None else value <= 1.15)]  # fmt: skip


def defaults_target(suites: Dict[str, Any]) -> List[Verdict]:
    compare = suites.get("compare")
    if not compare:
        return []
    found: List[Verdict] = []
    for each in compare["cells"]:
        if each.get("cap") is None or each.get("rtt", 0) < 0.02:
            continue
        value = ratio(throughput(each, "ours-default"), throughput(each, "official-default"))
        found.append(
            (
                f">= 1.5x the official SDK's throughput at defaults ({each['shape']}, {each['scheme'].upper()})",
                f"{fmt_ratio(value)} ({throughput(each, 'ours-default') or 0:.0f} vs {throughput(each, 'official-default') or 0:.0f} MiB/s)",
                None if value is None else value >= 1.5,
            )
        )
    return found


def link_target(suites: Dict[str, Any]) -> List[Verdict]:
    compare = suites.get("compare")
    if not compare:
        return []
    threads = int(compare["threads"])
    found: List[Verdict] = []
    for each in compare["cells"]:
        if each.get("cap") is None:
            continue
        allowed = threads * each["cap"] / MIB
        ours = throughput(each, "ours")
        floor = throughput(each, "put-parallel")
        fraction = ours / allowed if ours is not None else None
        busy = median(each["summary"].get("ours", {}).get("cores_busy"))
        transfer = median(each["summary"].get("ours", {}).get("transfer_mib_s"))
        found.append(
            (
                f">= 90 % of workers x cap at {threads} workers ({each['shape']}, {each['scheme'].upper()}; MD5 + CRC-64)",
                f"{100 * (fraction or 0):.0f} % ({ours or 0:.0f} of {allowed:.0f} MiB/s"
                + (f"; {100 * transfer / allowed:.0f} % during the part transfers" if transfer else "")
                + f"); {threads} plain PUTs: "
                f"{100 * (floor or 0) / allowed:.0f} %" + (f"; cores busy (client + server) {busy:.2f} of 2" if busy is not None else ""),
                None if fraction is None else fraction >= 0.90,
            )
        )
    return found


def same_checks_target(suites: Dict[str, Any]) -> List[Verdict]:
    compare = suites.get("compare")
    if not compare:
        return []
    found: List[Verdict] = []
    for ours, theirs, what in (("ours", "official-md5", "MD5 on both sides"), ("ours-no-md5", "official", "no MD5 on either side")):
        ratios = []
        for each in compare["cells"]:
            value = ratio(throughput(each, ours), throughput(each, theirs))
            if value is not None:
                ratios.append((value, f"{each['shape']} {each['scheme'].upper()}"))
        if not ratios:
            continue
        worst = min(ratios)
        slower = [name for value, name in ratios if value < 1.0]
        found.append(
            (
                f"never slower than the official SDK with the same checks ({what}; every shape and scheme)",
                f"lowest {worst[0]:.2f}x ({worst[1]}); slower in {len(slower)} of {len(ratios)} cells"
                + (f": {', '.join(slower)}" if slower else ""),
                not slower,
            )
        )
    return found


def dirs_target(suites: Dict[str, Any]) -> List[Verdict]:
    dirs = suites.get("dirs")
    if not dirs or "cells" not in dirs:
        return []
    found: List[Verdict] = []
    for each in dirs["cells"]:
        summary = each["summary"]
        ours = median(summary.get("dir-ours", {}).get("files_per_s"))
        loop = median(summary.get("dir-official-loop", {}).get("files_per_s"))
        value = ratio(ours, loop)
        found.append(
            (
                f"{each['files']:,} small files >= 5x the official SDK's simple loop ({each['shape']})",
                f"{fmt_ratio(value)} ({ours or 0:.0f} vs {loop or 0:.0f} files/s)",
                None if value is None else value >= 5.0,
            )
        )
    return found


def other_targets(suites: Dict[str, Any]) -> List[Verdict]:
    """Targets of earlier issues that the run measured again (memory, CRC-64 combine)."""
    found: List[Verdict] = []
    memory = suites.get("memory")
    if memory:
        mine = [r for r in memory["raw"] if r["client"].startswith("ours")]
        if mine:
            peak = max(r["maxrss_mib"] for r in mine)
            smallest = min(mine, key=lambda r: r["size"])
            largest = max(mine, key=lambda r: r["size"])
            growth = largest["maxrss_mib"] - smallest["maxrss_mib"]
            found.append(
                (
                    f"peak RSS < 64 MB + concurrency x part size ({memory['target_mib']:.0f} MiB), independent of file size",
                    f"{peak:.0f} MiB at most; {growth:+.1f} MiB from {human(smallest['size'])} to {human(largest['size'])}",
                    peak < memory["target_mib"] and growth < 16,
                )
            )
    crc = suites.get("crc")
    if crc:
        cold = crc["combine"]["cold_seconds"]
        found.append((f"CRC-64 combine for {crc['combine']['parts']:,} parts < 0.1 s",
                      f"{cold * 1000:.1f} ms (cold), {crc['combine']['warm_seconds'] * 1000:.1f} ms (warm)", cold < 0.1))  # fmt: skip
    return found


def targets(results: Dict[str, Any]) -> List[Verdict]:
    """Every target the run measured, in the order of issue 15."""
    suites = results["suites"]
    return (
        cpu_target(suites)
        + defaults_target(suites)
        + link_target(suites)
        + same_checks_target(suites)
        + dirs_target(suites)
        + other_targets(suites)
    )


__all__ = ["targets", "Verdict", "GIB"]
