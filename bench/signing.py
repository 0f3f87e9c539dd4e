"""Measurement 5: the cost of one ``Authorization`` header, this package against the official SDK.

The request is an Upload Part (``PUT /<key>?partNumber=7&uploadId=...`` with ``Content-Length``,
``Content-Type`` and an ``x-cos-meta`` header). Three ways are timed:

* ``ours-sign``: :func:`cos_multipart._protocol.signer.sign` on plain data, as the transport calls it per attempt
  (header selection and the window included);
* ``ours-auth``: :class:`cos_multipart.CosAuth` on a prepared ``requests`` request (URL parsing
  included), the same interface the official SDK's signer has;
* ``official``: the official SDK's ``CosS3Auth(conf, key, params)`` on the same prepared request (it builds
  one per request).

Both signers are given the same second, so their Authorization values can be compared: identical values
show the two compute the same thing, which makes the timing comparison fair.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List
from unittest import mock

import requests

from cos_multipart import CosAuth
from cos_multipart._protocol.credentials import Credentials
from cos_multipart._protocol.signer import SignWindow, select_headers, sign

from .stats import spread

CREDENTIALS = Credentials("AKIDBENCHMARK000000000000000000000000", "BenchmarkSecretKey00000000000000")
HOST = "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com"
KEY = "bench/videos/clip 01.mp4"
PARAMS = {"partNumber": "7", "uploadId": "1585130821cbb7df1d11846c073ad648e8f33b087cec2381df437acdc833cf654b9ecc6361"}
HEADERS = {
    "Content-Length": "8388608",
    "Content-Type": "video/mp4",
    "x-cos-meta-origin": "camera-7",
    "User-Agent": "bench",
    "Accept-Encoding": "identity",
}
NOW = 1_700_000_000.0


def _prepared() -> requests.PreparedRequest:
    url = f"http://{HOST}/bench/videos/clip%2001.mp4"
    return requests.Request("PUT", url, params=PARAMS, headers=HEADERS).prepare()


def _time_per_call(function: Callable[[], Any], iterations: int) -> List[float]:
    """Microseconds per call, five timings of ``iterations`` calls each."""
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(iterations):
            function()
        samples.append((time.perf_counter() - started) / iterations * 1e6)
    return samples


def sign_benchmarks(iterations: int, *, include_official: bool) -> Dict[str, Any]:
    """Microseconds per Authorization header for each signer, and whether the values agree."""
    signed = {name.lower(): value for name, value in HEADERS.items()}

    def ours_sign() -> str:
        headers = select_headers(signed)
        headers["host"] = HOST
        return sign(CREDENTIALS, SignWindow.around(time.time(), 3600), "PUT", "/" + KEY, PARAMS, headers)

    auth = CosAuth(CREDENTIALS, expires=3600, clock=lambda: NOW)
    request = _prepared()

    def ours_auth() -> str:
        return str(auth(request).headers["Authorization"])

    results: Dict[str, List[float]] = {
        "ours-sign": _time_per_call(ours_sign, iterations),
        "ours-auth": _time_per_call(ours_auth, iterations),
    }
    values: Dict[str, str] = {"ours-auth": ours_auth()}
    if include_official:
        official, official_value = _official(iterations)
        results["official"] = official
        values["official"] = official_value
    same = len(set(values.values())) == 1 if "official" in values else None
    return {
        "iterations": iterations,
        "microseconds": {name: spread(samples) for name, samples in results.items()},
        "same_authorization": same,
    }


def _official(iterations: int) -> tuple[List[float], str]:
    from qcloud_cos import CosConfig  # type: ignore[import-untyped]
    from qcloud_cos.cos_auth import CosS3Auth  # type: ignore[import-untyped]

    config = CosConfig(Region="ap-guangzhou", SecretId=CREDENTIALS.secret_id, SecretKey=CREDENTIALS.secret_key)
    request = _prepared()

    def official() -> str:
        return str(CosS3Auth(config, KEY, params=PARAMS, expire=3600)(request).headers["Authorization"])

    samples = _time_per_call(official, iterations)
    # The same second for the comparison (the official signer reads time.time() itself).
    with mock.patch("time.time", return_value=NOW):
        value = official()
    return samples, value
