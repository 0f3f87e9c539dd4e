"""Upload a file in parallel verified parts, interrupt it, and resume it: all against the local COS server.

Run it with ``python examples/upload_file.py``: no credentials or network needed. With a real bucket, build
``CosClient(bucket=..., region=...)`` (keys from ``COS_SECRET_ID``/``COS_SECRET_KEY``) instead of
``cos.client()``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cos_multipart import crc64, ProgressEvent, UploadConfig, Uploader
from cos_multipart.testing import LocalCOS

MB = 1024 * 1024


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir, LocalCOS() as cos, cos.client(pool_size=8) as client:
        source = Path(workdir) / "video.bin"
        source.write_bytes(os.urandom(24 * MB))
        config = UploadConfig(part_size=2 * MB, concurrency=4, checkpoint_dir=Path(workdir) / "checkpoints")
        uploader = Uploader(client, config)

        # 1. An upload that is interrupted after 5 parts (a progress callback that raises stops it).
        def stop_after_five(event: ProgressEvent) -> None:
            if event.parts_done >= 5:
                raise RuntimeError("pretend the network went away")

        try:
            uploader.upload(source, "videos/video.bin", progress=stop_after_five)
        except RuntimeError as error:
            checkpoint = uploader.checkpoint_for(source, "videos/video.bin")
            assert checkpoint is not None
            print(f"interrupted ({error}); checkpoint holds {len(checkpoint.parts)} verified parts")

        # 2. The same call again resumes: only the missing parts are sent, then everything is verified.
        def show(event: ProgressEvent) -> None:
            if event.parts_done == event.parts_total:
                print(f"  {event.bytes_done} / {event.total_bytes} bytes, {event.parts_reused} parts reused")

        result = uploader.upload(source, "videos/video.bin", progress=show)
        assert result.crc64 == crc64(source.read_bytes())
        print(
            f"uploaded {result.size} bytes in {len(result.parts)} parts ({result.parts_reused} reused) "
            f"in {result.elapsed:.2f} s; crc64 {result.crc64} verified; etag {result.etag}"
        )


if __name__ == "__main__":
    main()
