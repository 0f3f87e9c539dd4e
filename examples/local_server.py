"""Run code against the local COS-compatible server: an upload, a fault, a pre-signed URL.

    python examples/local_server.py
"""

from __future__ import annotations

import io

import requests

from cos_multipart import crc64, RetryPolicy, upload_file
from cos_multipart.testing import Fault, LocalCOS


def main() -> None:
    data = bytes(range(256)) * 40_000  # about 10 MB
    with LocalCOS() as cos:
        print(f"server: {cos.endpoint}  bucket: {cos.bucket}  key: {cos.credentials.secret_id}")
        # The second Upload Part answers 503 SlowDown once: the client retries it.
        cos.faults.add(Fault.error("UploadPart", status=503, nth=2))
        with cos.client(retry=RetryPolicy(backoff_base=0.05)) as client:
            # A path, a file object or a stream: here the bytes come from memory.
            result = upload_file(client, io.BytesIO(data), "examples/data.bin", part_size=1024 * 1024, concurrency=4)
            print(f"uploaded {result.size} bytes in {len(result.parts)} parts, CRC64 {result.crc64}")
            assert result.crc64 == crc64(data)
            url = client.presign("examples/data.bin", expires=60)
            # The endpoint (an IP) names no bucket: the URL is signed for the bucket's host, sent as Host.
            answer = requests.get(url, headers={"Host": client.endpoint.host}, timeout=10)
            assert answer.status_code == 200, answer.text
            print(f"pre-signed GET returns {len(answer.content)} bytes")
        for entry in cos.log_entries("UploadPart")[:3]:
            print(entry.line())
        print(f"faults fired: {cos.faults.fired}")


if __name__ == "__main__":
    main()
