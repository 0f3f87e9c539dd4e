"""``python upload_at_lock.py ENDPOINT BUCKET REGION PATH KEY CHECKPOINTS``: a program's own ``upload_file``
(threads, Python's default SIGINT handler: no command line) with SIGINT raised right after the main thread took a
condition's lock, once ``$COS_MULTIPART_TEST_ARM`` exists (:mod:`signal_at_lock`). On ``KeyboardInterrupt`` it
prints ``kept UPLOAD_ID`` (the upload the error names) and exits 130."""

from __future__ import annotations

import os
import signal
import sys
from typing import List

from signal_at_lock import install


def main(argv: List[str]) -> int:
    # Python's default handler, as a program has it: Python does not install it when SIGINT was ignored at its
    # start, as in the background jobs of a shell script (their children inherit SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    install(os.environ["COS_MULTIPART_TEST_ARM"])
    from cos_multipart import CheckpointStore, CosClient, kept_upload_of, upload_file

    endpoint, bucket, region, path, key, checkpoints = argv
    with CosClient(bucket, region, endpoint=endpoint) as client:
        try:
            upload_file(client, path, key, part_size=1024 * 1024, multipart_threshold=0, concurrency=2,
                        store=CheckpointStore(checkpoints))  # fmt: skip
        except KeyboardInterrupt as error:
            kept = kept_upload_of(error)
            print(f"kept {kept.upload_id if kept is not None else None}", flush=True)
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
