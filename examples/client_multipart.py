"""A multipart upload step by step with CosClient, against the bundled local COS server.

Run: ``python examples/client_multipart.py``. Point ``CosClient`` at a real bucket by dropping
``endpoint=`` and passing your bucket, region and credentials (or COS_SECRET_ID / COS_SECRET_KEY).
"""

from __future__ import annotations

import io
import os

from cos_multipart import CosClient, CosServiceError, CosValidationError, crc64, crc64_combine, RetryPolicy
from cos_multipart.testing import LocalCOS

PART_SIZE = 1024 * 1024  # 1 MB: the smallest non-last part COS accepts


def main() -> None:
    data = os.urandom(2 * PART_SIZE + 12345)
    key = "examples/文件 with spaces+plus.bin"
    with LocalCOS() as server, CosClient(
        server.bucket, server.region, server.credentials, endpoint=server.endpoint, retry=RetryPolicy(max_attempts=3)
    ) as client:
        print(client)
        upload = client.initiate_multipart_upload(key, content_type="application/octet-stream", metadata={"origin": "example"})
        print("upload id:", upload.upload_id)

        # One file object feeds every part: each part is read from the current position.
        parts = []
        stream = io.BytesIO(data)
        for number, offset in enumerate(range(0, len(data), PART_SIZE), start=1):
            stream.seek(offset)
            size = min(PART_SIZE, len(data) - offset)
            part = client.upload_part(key, upload.upload_id, number, stream, content_length=size)
            assert part.crc64 == crc64(data[offset : offset + size])
            parts.append(part)
            print(f"part {number}: {size} bytes, etag {part.etag}, crc64 {part.crc64}")

        print("listed:", [(p.part_number, p.size) for p in client.list_parts(key, upload.upload_id)])
        done = client.complete_multipart_upload(key, upload.upload_id, parts)
        combined = 0
        for part in parts:
            combined = crc64_combine(combined, part.crc64 or 0, part.size)
        print("object etag", done.etag, "crc64 verified:", done.crc64 == combined == crc64(data))

        # Bad input is refused before anything is sent.
        try:
            client.upload_part(key, upload.upload_id, 10001, b"x")
        except CosValidationError as error:
            print("refused:", error)
        try:
            client.abort_multipart_upload(key, upload.upload_id)  # already completed
        except CosServiceError as error:
            print("service error:", error.status, error.code, error.request_id)
        print("pre-signed GET:", client.presign(key, expires=600)[:80], "...")


if __name__ == "__main__":
    main()
