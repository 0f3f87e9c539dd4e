"""Benchmarks of cos-multipart against the official COS SDK, on the bundled local COS server.

Run ``python -m bench --help``. Every client upload runs in a fresh child process and the server in a
process of its own, so the CPU time and peak RSS reported for a client are that client's only. The results
are written as JSON (``bench/out/results.json``) and rendered to ``docs/benchmarks.md`` and ``docs/img/``.
"""

from __future__ import annotations

__all__: list[str] = []
