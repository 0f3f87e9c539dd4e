"""What a type checker sees of the public API: ``acl`` and ``storage_class`` are ``Literal`` types (a typo fails
mypy, not only the run), ``LocalCOS.client`` takes explicit keyword arguments and returns a ``CosClient``,
``ObjectResult.headers`` is a read-only mapping, and ``verify`` returns a ``VerifyResult``.

mypy runs on a snippet (``mypy.api.run``) with the package's source directory on ``MYPYPATH``, so the result
does not depend on how the package was installed."""

from __future__ import annotations

import textwrap
import typing
from pathlib import Path
from typing import List

import pytest

import cos_multipart
from cos_multipart._protocol import limits
from cos_multipart._protocol.options import Acl, StorageClass

mypy_api = pytest.importorskip("mypy.api")

SNIPPET = textwrap.dedent(
    """
    from cos_multipart import CosClient, ObjectOptions, ObjectResult, VerifyResult, verify
    from cos_multipart.testing import LocalCOS

    ObjectOptions(acl="publc")  # line 5: error
    ObjectOptions(storage_class="STANDARD_AI")  # line 6: error
    ObjectOptions(acl="private", storage_class="standard_ia")
    ObjectOptions(acl="bucket-owner-full-control", storage_class="MAZ_STANDARD_IA")


    def made(server: LocalCOS) -> CosClient:
        return server.client(pool_size=2, retry=None, timeout=(5, 10))


    def misspelt(server: LocalCOS) -> None:
        server.client(pool_sise=2)  # line 16: error


    def headers(result: ObjectResult) -> str:
        result.headers["x"] = "y"  # line 20: error (read-only)
        return result.headers.get("etag", "")


    def checked(client: CosClient) -> VerifyResult:
        return verify(client, "a.bin", "a.bin")


    def client_literal(client: CosClient) -> None:
        client.initiate_multipart_upload("k", acl="public-read-write")  # line 29: error
    """
)


def error_lines(output: str) -> List[int]:
    return sorted(int(line.split(":")[1]) for line in output.splitlines() if ": error:" in line)


def test_mypy_refuses_misspelt_literals_and_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source_root = Path(cos_multipart.__file__).resolve().parent.parent
    monkeypatch.setenv("MYPYPATH", str(source_root))
    snippet = tmp_path / "snippet.py"
    snippet.write_text(SNIPPET)
    stdout, stderr, status = mypy_api.run(
        [str(snippet), "--strict", "--follow-imports=silent", "--cache-dir", str(tmp_path / "cache"), "--no-error-summary"]
    )
    assert status == 1, (stdout, stderr)
    assert error_lines(stdout) == [5, 6, 16, 20, 29], stdout
    assert "publc" in stdout and "STANDARD_AI" in stdout and "pool_sise" in stdout


def test_the_literal_types_are_the_documented_values() -> None:
    assert set(typing.get_args(Acl)) == set(limits.OBJECT_ACLS)
    classes = set(typing.get_args(StorageClass))
    assert {value.upper() for value in classes} == set(limits.STORAGE_CLASSES)
    assert classes == set(limits.STORAGE_CLASSES) | {value.lower() for value in limits.STORAGE_CLASSES}


def test_an_acl_typo_still_raises_when_run() -> None:
    with pytest.raises(cos_multipart.CosValidationError) as excinfo:
        cos_multipart.ObjectOptions(acl="publc")  # type: ignore[arg-type]
    assert excinfo.value.field == "acl"


def test_object_result_headers_are_the_response_headers_read_only() -> None:
    from cos_multipart._protocol.models import ObjectResult, ResponseInfo

    result = ObjectResult("k", '"e"', 1, 2, None, ResponseInfo(200, "rid", {"etag": '"e"', "x-cos-meta-a": "b"}))
    assert dict(result.headers) == {"etag": '"e"', "x-cos-meta-a": "b"} and result.headers["x-cos-meta-a"] == "b"
    with pytest.raises(TypeError):
        result.headers["etag"] = "changed"  # type: ignore[index]
