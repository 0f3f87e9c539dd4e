"""The local server's on-disk store: buckets, multipart uploads, parts and objects.

Layout under the data directory (metadata is JSON written atomically next to the data; a data file is
never rewritten in place, so a reader holding it open is never disturbed)::

    buckets/<bucket>/uploads/<upload id>/upload.json
    buckets/<bucket>/uploads/<upload id>/part-00001.json       -> names its data file
    buckets/<bucket>/uploads/<upload id>/part-00001.<random>.data
    buckets/<bucket>/objects/<sha256 of key>.json                -> names its data file
    buckets/<bucket>/objects/<sha256 of key>.<random>.data
    buckets/<bucket>/tmp/                                        bodies being received

Bodies are streamed to disk in bounded buffers and hashed (MD5 and CRC-64 in one pass) as they are written,
so memory stays flat whatever the size. Data is stored as received: SSE is simulated (modes, ETags and
echo headers), not applied to the bytes.
"""

from __future__ import annotations

import contextlib
from io import BufferedReader
import hashlib
import hmac
import json
import os
import secrets
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from ..checksum import PartHasher, crc64_combine_all
from .protocol import Encryption, ServiceError, is_upload_id, new_upload_id, no_such_upload

#: Copy buffer for assembling objects; bounded so memory does not grow with the object.
COPY_BUFFER = 1024 * 1024
#: Bytes per ``copy_file_range`` call: keep-alive whitespace can go out between calls.
KERNEL_COPY_CHUNK = 64 * 1024 * 1024
_SECRET_FILE = ".server-secret"


@dataclass(frozen=True)
class UploadRecord:
    """A multipart upload in progress."""

    bucket: str
    key: str
    upload_id: str
    initiated: float
    storage_class: str
    headers: Tuple[Tuple[str, str], ...]
    encryption: Encryption = field(default_factory=Encryption)


@dataclass(frozen=True)
class PartRecord:
    """An uploaded part: ``etag`` without quotes, ``crc64`` of the plaintext."""

    number: int
    etag: str
    md5: str
    crc64: int
    size: int
    last_modified: float
    data: str


@dataclass(frozen=True)
class ObjectRecord:
    """A stored object: ``etag`` without quotes, ``crc64`` of the whole object."""

    bucket: str
    key: str
    etag: str
    crc64: int
    size: int
    last_modified: float
    headers: Tuple[Tuple[str, str], ...]
    encryption: Encryption
    data: str


class BodySink:
    """A temporary file that hashes what is written to it; becomes a part or an object on commit.

    Use as a context manager: the file is removed on exit unless the store took it over.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.hasher = PartHasher()
        self._file: Optional[IO[bytes]] = open(path, "xb")
        self.committed = False

    def write(self, data: memoryview) -> None:
        """Hash and store the next bytes."""
        assert self._file is not None
        self.hasher.update(data)
        self._file.write(data)

    def close(self) -> None:
        """Close the file (the store calls it before taking the file over)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "BodySink":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
        if not self.committed:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


class Store:
    """Thread-safe persistent state of the server; everything survives a restart on the same directory.

    Args:
        root: The data directory (created if missing).
        clock: Unix time source (timestamps, upload ids).
    """

    def __init__(self, root: Path, clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self._clock = clock
        self._lock = threading.Lock()
        self._upload_locks: Dict[str, threading.Lock] = {}
        self._objects_lock = threading.Lock()  # object metadata replacement and removal
        (root / "buckets").mkdir(parents=True, exist_ok=True)
        self._secret = self._load_secret()

    # --- paths -------------------------------------------------------------------------------------

    def _bucket_dir(self, bucket: str) -> Path:
        path = self.root / "buckets" / bucket
        if not path.is_dir():
            for sub in ("uploads", "objects", "tmp"):
                (path / sub).mkdir(parents=True, exist_ok=True)
        return path

    def _upload_dir(self, bucket: str, upload_id: str) -> Path:
        return self._bucket_dir(bucket) / "uploads" / upload_id

    def _object_json(self, bucket: str, key: str) -> Path:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return self._bucket_dir(bucket) / "objects" / f"{digest}.json"

    def _load_secret(self) -> bytes:
        path = self.root / _SECRET_FILE
        try:
            return bytes.fromhex(path.read_text())
        except (FileNotFoundError, ValueError):
            secret = secrets.token_bytes(32)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secret.hex())
            return secret

    @contextlib.contextmanager
    def _upload_lock(self, upload_id: str) -> Iterator[None]:
        with self._lock:
            lock = self._upload_locks.setdefault(upload_id, threading.Lock())
        with lock:
            yield

    # --- bodies ------------------------------------------------------------------------------------

    def sink(self, bucket: str) -> BodySink:
        """A new temporary file in ``bucket`` to stream a body into."""
        return BodySink(self._bucket_dir(bucket) / "tmp" / f"{secrets.token_hex(12)}.tmp")

    def etag_for(self, md5_hex: str, encryption: Encryption) -> str:
        """The ETag COS would answer: the MD5 without SSE or with SSE-COS, something else for SSE-KMS and
        SSE-C (here an HMAC of the MD5 under the server's secret) [ref 6.4]."""
        if encryption.etag_is_md5:
            return md5_hex
        mac = hmac.new(self._secret, f"{encryption.mode}:{md5_hex}".encode("ascii"), hashlib.sha256)
        return mac.hexdigest()[:32]

    # --- uploads -----------------------------------------------------------------------------------

    def create_upload(
        self,
        bucket: str,
        key: str,
        *,
        storage_class: str,
        headers: Sequence[Tuple[str, str]],
        encryption: Encryption,
    ) -> UploadRecord:
        """Start a multipart upload."""
        now = self._clock()
        record = UploadRecord(bucket, key, new_upload_id(now), now, storage_class, tuple(headers), encryption)
        directory = self._upload_dir(bucket, record.upload_id)
        directory.mkdir(parents=True)
        _write_json(directory / "upload.json", _upload_to_json(record))
        return record

    def get_upload(self, bucket: str, key: str, upload_id: str) -> UploadRecord:
        """The upload ``upload_id`` of ``key``; 404 NoSuchUpload when unknown (or for another key)."""
        if not is_upload_id(upload_id):
            raise no_such_upload()
        try:
            record = _upload_from_json(_read_json(self._upload_dir(bucket, upload_id) / "upload.json"))
        except FileNotFoundError:
            raise no_such_upload() from None
        if record.key != key:
            raise no_such_upload()
        return record

    def list_uploads(self, bucket: str) -> List[UploadRecord]:
        """Every upload in progress in ``bucket``."""
        records = []
        for directory in (self._bucket_dir(bucket) / "uploads").iterdir():
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                records.append(_upload_from_json(_read_json(directory / "upload.json")))
        return records

    def commit_part(self, upload: UploadRecord, number: int, sink: BodySink, etag: str) -> PartRecord:
        """Make the body in ``sink`` part ``number`` of ``upload``, replacing an earlier one.

        Raises:
            ServiceError: 404 NoSuchUpload when the upload was aborted or completed meanwhile.
        """
        sink.close()
        hasher = sink.hasher
        with self._upload_lock(upload.upload_id):
            directory = self._upload_dir(upload.bucket, upload.upload_id)
            if not (directory / "upload.json").exists():
                raise no_such_upload()
            data_name = f"part-{number:05d}.{secrets.token_hex(6)}.data"
            os.replace(sink.path, directory / data_name)
            sink.committed = True
            record = PartRecord(
                number, etag, hasher.md5_hex, hasher.crc64, hasher.size, self._clock(), data_name
            )
            meta = directory / f"part-{number:05d}.json"
            previous = _read_part(meta)
            _write_json(meta, asdict(record))
            if previous is not None:
                with contextlib.suppress(FileNotFoundError):
                    (directory / previous.data).unlink()
        return record

    def list_parts(self, upload: UploadRecord) -> List[PartRecord]:
        """The uploaded parts of ``upload``, by part number."""
        directory = self._upload_dir(upload.bucket, upload.upload_id)
        parts = []
        for meta in sorted(directory.glob("part-*.json")):
            record = _read_part(meta)
            if record is not None:
                parts.append(record)
        return parts

    def abort(self, bucket: str, key: str, upload_id: str) -> None:
        """Discard an upload and its parts; 404 NoSuchUpload when unknown."""
        upload = self.get_upload(bucket, key, upload_id)
        with self._upload_lock(upload_id):
            directory = self._upload_dir(bucket, upload.upload_id)
            try:
                # Renaming first makes the removal atomic for concurrent part uploads and restarts.
                trash = self._bucket_dir(bucket) / "tmp" / f"aborted-{upload_id}"
                os.replace(directory, trash)
            except FileNotFoundError:
                raise no_such_upload() from None
            shutil.rmtree(trash, ignore_errors=True)
        with self._lock:
            self._upload_locks.pop(upload_id, None)

    def complete(
        self,
        upload: UploadRecord,
        check: Callable[[Dict[int, PartRecord]], List[int]],
        *,
        forbid_overwrite: bool = False,
        on_progress: Callable[[], None] = lambda: None,
    ) -> ObjectRecord:
        """Assemble the object from the parts ``check`` selects, then remove the upload.

        The object is written by streaming the part files through a bounded buffer (``on_progress`` is
        called between buffers, e.g. to send keep-alive whitespace); the whole-object CRC-64 is combined
        from the stored part CRCs.

        Raises:
            ServiceError: Whatever ``check`` raises; 404 NoSuchUpload; 409 FileAlreadyExists.
        """
        with self._upload_lock(upload.upload_id):
            directory = self._upload_dir(upload.bucket, upload.upload_id)
            if not (directory / "upload.json").exists():
                raise no_such_upload()
            parts = {record.number: record for record in self.list_parts(upload)}
            numbers = check(parts)
            selected = [parts[number] for number in numbers]
            object_meta = self._object_json(upload.bucket, upload.key)
            if forbid_overwrite and object_meta.exists():
                raise ServiceError(409, "FileAlreadyExists", "An object with the same key already exists.")
            data_name = f"{object_meta.stem}.{secrets.token_hex(6)}.data"
            target = object_meta.parent / data_name
            with open(target, "xb") as output:
                for part in selected:
                    with open(directory / part.data, "rb") as source:
                        _copy(source, output, part.size, on_progress)
            record = ObjectRecord(
                bucket=upload.bucket,
                key=upload.key,
                etag=self._multipart_etag(upload.upload_id, selected),
                crc64=crc64_combine_all([(part.crc64, part.size) for part in selected]),
                size=sum(part.size for part in selected),
                last_modified=self._clock(),
                headers=upload.headers,
                encryption=upload.encryption,
                data=data_name,
            )
            with self._objects_lock:
                if forbid_overwrite and object_meta.exists():
                    target.unlink()
                    raise ServiceError(409, "FileAlreadyExists", "An object with the same key already exists.")
                self._replace_object(object_meta, record)
            trash = self._bucket_dir(upload.bucket) / "tmp" / f"completed-{upload.upload_id}"
            os.replace(directory, trash)
            shutil.rmtree(trash, ignore_errors=True)
        with self._lock:
            self._upload_locks.pop(upload.upload_id, None)
        return record

    def _multipart_etag(self, upload_id: str, parts: Sequence[PartRecord]) -> str:
        # COS documents only the shape "<32 hex>-<number of parts>"; it is unique per upload [ref 2.3].
        digest = hashlib.md5(upload_id.encode("ascii"))
        for part in parts:
            digest.update(part.etag.encode("ascii"))
        return f"{digest.hexdigest()}-{len(parts)}"

    # --- objects -----------------------------------------------------------------------------------

    def put_object(
        self,
        bucket: str,
        key: str,
        sink: BodySink,
        *,
        etag: str,
        headers: Sequence[Tuple[str, str]],
        encryption: Encryption,
        forbid_overwrite: bool = False,
    ) -> ObjectRecord:
        """Store the body in ``sink`` as object ``key`` (replacing it unless ``forbid_overwrite``)."""
        sink.close()
        object_meta = self._object_json(bucket, key)
        with self._objects_lock:
            if forbid_overwrite and object_meta.exists():
                raise ServiceError(409, "FileAlreadyExists", "An object with the same key already exists.")
            data_name = f"{object_meta.stem}.{secrets.token_hex(6)}.data"
            os.replace(sink.path, object_meta.parent / data_name)
            sink.committed = True
            record = ObjectRecord(
                bucket, key, etag, sink.hasher.crc64, sink.hasher.size, self._clock(), tuple(headers), encryption, data_name
            )
            self._replace_object(object_meta, record)
        return record

    def _replace_object(self, meta: Path, record: ObjectRecord) -> None:
        previous = _read_object(meta)
        _write_json(meta, _object_to_json(record))
        if previous is not None and previous.data != record.data:
            with contextlib.suppress(FileNotFoundError):
                (meta.parent / previous.data).unlink()

    def get_object(self, bucket: str, key: str) -> ObjectRecord:
        """The object ``key``; 404 NoSuchKey when absent."""
        record = _read_object(self._object_json(bucket, key))
        if record is None or record.key != key:
            raise ServiceError(404, "NoSuchKey", "The specified key does not exist.")
        return record

    def open_object(self, record: ObjectRecord) -> BufferedReader:
        """Open the data of ``record`` for reading (stays readable if the object is replaced meanwhile)."""
        try:
            return open(self._bucket_dir(record.bucket) / "objects" / record.data, "rb")
        except FileNotFoundError:
            raise ServiceError(404, "NoSuchKey", "The specified key does not exist.") from None

    def delete_object(self, bucket: str, key: str) -> None:
        """Remove object ``key`` if it exists."""
        meta = self._object_json(bucket, key)
        with self._objects_lock:
            record = _read_object(meta)
            if record is None or record.key != key:
                return
            meta.unlink()
            with contextlib.suppress(FileNotFoundError):
                (meta.parent / record.data).unlink()


# --- helpers -------------------------------------------------------------------------------------------


def _copy(source: BufferedReader, output: IO[bytes], size: int, on_progress: Callable[[], None]) -> None:
    if _kernel_copy(source, output, size, on_progress):
        return
    buffer = bytearray(COPY_BUFFER)
    view = memoryview(buffer)
    remaining = size
    while remaining:
        count = source.readinto(view[: min(COPY_BUFFER, remaining)])
        if not count:
            raise ServiceError(500, "InternalError", "A stored part is shorter than recorded.")
        output.write(view[:count])
        remaining -= count
        on_progress()


def _kernel_copy(source: BufferedReader, output: IO[bytes], size: int, on_progress: Callable[[], None]) -> bool:
    """Copy inside the kernel (no bytes through Python) where ``os.copy_file_range`` works; False otherwise."""
    copy_range = getattr(os, "copy_file_range", None)
    if copy_range is None or size == 0:
        return False
    output.flush()
    source_offset, output_offset = source.tell(), output.tell()
    remaining = size
    try:
        while remaining:
            count = copy_range(source.fileno(), output.fileno(), min(remaining, KERNEL_COPY_CHUNK),
                               source_offset, output_offset)
            if count == 0:
                raise ServiceError(500, "InternalError", "A stored part is shorter than recorded.")
            source_offset += count
            output_offset += count
            remaining -= count
            on_progress()
    except OSError:
        if remaining != size:
            raise
        return False  # not supported for these files: copy through the buffer instead
    output.seek(output_offset)
    return True


def _write_json(path: Path, data: Dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    temporary.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, path)


def _read_json(path: Path) -> Dict[str, Any]:
    data: Dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _read_part(path: Path) -> Optional[PartRecord]:
    try:
        return PartRecord(**_read_json(path))
    except FileNotFoundError:
        return None


def _upload_to_json(record: UploadRecord) -> Dict[str, Any]:
    return asdict(record)


def _upload_from_json(data: Dict[str, Any]) -> UploadRecord:
    return UploadRecord(
        bucket=data["bucket"],
        key=data["key"],
        upload_id=data["upload_id"],
        initiated=data["initiated"],
        storage_class=data["storage_class"],
        headers=tuple((name, value) for name, value in data["headers"]),
        encryption=Encryption(**data["encryption"]),
    )


def _object_to_json(record: ObjectRecord) -> Dict[str, Any]:
    return asdict(record)


def _read_object(path: Path) -> Optional[ObjectRecord]:
    try:
        data = _read_json(path)
    except FileNotFoundError:
        return None
    data["headers"] = tuple((name, value) for name, value in data["headers"])
    data["encryption"] = Encryption(**data["encryption"])
    return ObjectRecord(**data)
