"""Upload a directory tree, then sync it, against the local COS server (runs offline).

    python examples/sync_directory.py

Against the real COS, make the client with your bucket and region instead (credentials from
COS_SECRET_ID / COS_SECRET_KEY).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cos_multipart import sync_directory, upload_directory, UploadConfig
from cos_multipart.testing import LocalCOS


def main() -> None:
    with tempfile.TemporaryDirectory() as work, LocalCOS() as cos, cos.client() as client:
        root = Path(work) / "site"
        for name in ("index.html", "css/site.css", "img/logo.png", "img/big.bin"):
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(20 * 1024 * 1024 if name.endswith(".bin") else 4096))
        config = UploadConfig(concurrency=8, checkpoint_dir=Path(work) / "checkpoints")

        report = upload_directory(client, root, "www", config=config, exclude=["*.tmp"])
        print(f"uploaded {len(report.uploaded)} files, {report.bytes_sent} bytes in {report.elapsed:.2f} s")

        (root / "index.html").write_bytes(b"<h1>changed</h1>")
        client.put_object("www/old.html", b"stale")
        plan = sync_directory(client, root, "www", config=config, delete=True, dry_run=True, cache=False)
        for action in plan.planned:
            print(f"would {action.action} {action.key} ({action.reason})")
        done = sync_directory(client, root, "www", config=config, delete=True, cache=False)
        print(f"sync: {len(done.uploaded)} uploaded, {len(done.skipped)} unchanged, {len(done.deleted)} deleted")


if __name__ == "__main__":
    main()
