"""Helpers for talking to the local COS server with plain ``requests`` (no client code involved)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Iterator, List, Optional, Tuple

import pytest
import requests

from cos_multipart._protocol.checksum import crc64
from cos_multipart._protocol.signer import CosAuth
from cos_multipart.testing import DEFAULT_BUCKET, LocalCOS
from cos_multipart.testing.protocol import Encryption


class Raw:
    """A signed ``requests`` session aimed at one local server, with a helper per multipart call."""

    def __init__(self, cos: LocalCOS) -> None:
        self.cos = cos
        self.session = requests.Session()
        self.auth = CosAuth(cos.credentials)

    def request(self, method: str, key: str, *, params: Any = None, headers: Any = None, data: Any = None,
                auth: Any = "default", **kwargs: Any) -> requests.Response:
        url = self.cos.url(key) if key else self.cos.endpoint + "/"
        return self.session.request(
            method, url, params=params, headers=headers, data=data,
            auth=self.auth if auth == "default" else auth, timeout=30, **kwargs
        )

    def initiate(self, key: str, headers: Any = None) -> str:
        response = self.request("POST", key, params={"uploads": ""}, headers=headers)
        assert response.status_code == 200, response.text
        match = re.search(r"<UploadId>(\w+)</UploadId>", response.text)
        assert match
        return match.group(1)

    def part(self, key: str, upload_id: str, number: int, data: Any, headers: Any = None) -> requests.Response:
        return self.request("PUT", key, params={"partNumber": str(number), "uploadId": upload_id}, data=data,
                            headers=headers)

    def complete(self, key: str, upload_id: str, parts: List[Tuple[int, str]], headers: Any = None) -> requests.Response:
        return self.request("POST", key, params={"uploadId": upload_id}, data=complete_body(parts), headers=headers)

    def upload(self, key: str, chunks: List[bytes], headers: Any = None) -> requests.Response:
        upload_id = self.initiate(key, headers)
        etags = []
        for number, chunk in enumerate(chunks, 1):
            response = self.part(key, upload_id, number, chunk)
            assert response.status_code == 200, response.text
            etags.append((number, response.headers["ETag"]))
        return self.complete(key, upload_id, etags)


def complete_body(parts: List[Tuple[int, str]], declaration: bool = False) -> bytes:
    items = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>" for n, etag in parts)
    head = '<?xml version="1.0" encoding="utf-8"?>' if declaration else ""
    return f"{head}<CompleteMultipartUpload>{items}</CompleteMultipartUpload>".encode()


def error_code(response: requests.Response) -> Optional[str]:
    match = re.search(r"<Code>([^<]*)</Code>", response.text)
    return match.group(1) if match else None


@pytest.fixture
def raw(local_cos: LocalCOS) -> Iterator[Raw]:
    helper = Raw(local_cos)
    yield helper
    helper.session.close()


def write_one_file_object(root: Path, key: str, data: bytes, etag: str, *, modified: float = 1700000000.0) -> Path:
    """Store ``key`` in data directory ``root`` as the store wrote every object before segments existed
    (a multipart object assembled into one data file, no segment list); returns the data file."""
    bucket = root / "buckets" / DEFAULT_BUCKET
    for sub in ("uploads", "objects", "tmp"):
        (bucket / sub).mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(key.encode()).hexdigest()
    data_file = bucket / "objects" / f"{digest}.0123456789ab.data"
    data_file.write_bytes(data)
    meta = {"bucket": DEFAULT_BUCKET, "key": key, "etag": etag, "crc64": crc64(data), "size": len(data),
            "last_modified": modified, "headers": [["content-type", "text/plain"], ["x-cos-meta-era", "old"]],
            "encryption": dataclasses.asdict(Encryption()), "data": data_file.name}
    (bucket / "objects" / f"{digest}.json").write_text(json.dumps(meta))
    return data_file
