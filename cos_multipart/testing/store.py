"""The local server's on-disk store: buckets, multipart uploads, parts and objects.

Layout under the data directory (metadata is JSON written atomically next to the data; a data file is
never rewritten in place, so a reader holding it open is never disturbed)::

    buckets/<bucket>/uploads/<upload id>/upload.json
    buckets/<bucket>/uploads/<upload id>/part-00001.json       -> names its data file
    buckets/<bucket>/uploads/<upload id>/part-00001.<random>.data
    buckets/<bucket>/objects/<sha256 of key>.json                -> names the object's data
    buckets/<bucket>/objects/<sha256 of key>.<random>.data       PUT Object: one file
    buckets/<bucket>/objects/<sha256 of key>.<random>.parts/     Complete: the upload's part files
    buckets/<bucket>/tmp/                                        bodies being received, data being removed

Complete does not copy a byte: the upload's directory is renamed into ``objects/`` and its part files
become the object's segments, listed in order in the object's JSON; reads stream them one after another.
A replaced or deleted object's data is moved to ``tmp/`` and removed once no reader holds it.

Bodies are streamed to disk in bounded buffers and hashed (MD5 and CRC-64 in one pass, the server's own
:mod:`._hashing`) as they are written, so the hashes are of the very bytes stored and memory stays flat
whatever the size. Data is stored as received: SSE is simulated (modes, ETags and
echo headers), not applied to the bytes. One server (one :class:`Store`) per data directory.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from io import FileIO
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from ._hashing import BodyHasher, crc64_of_parts
from ._names import random_hex
from .protocol import Encryption, ServiceError, file_exists, is_upload_id, new_upload_id, no_such_upload

#: Name suffix of a multipart object's directory of segments under ``objects/``.
SEGMENTS_SUFFIX = ".parts"
#: Whether segments can be opened relative to a directory descriptor (POSIX): a reader of a multipart
#: object then holds one descriptor for the directory and one for the segment being read, whatever the
#: number of segments. Elsewhere a reader opens every segment up front.
LAZY_SEGMENTS = os.open in os.supports_dir_fd
_UPLOAD_META = "upload.json"
_SECRET_FILE = ".server-secret"  # noqa: S105 - a file name, not a secret


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
class Segment:
    """One file of a multipart object: ``name`` inside the object's directory, ``size`` bytes."""

    name: str
    size: int


@dataclass(frozen=True)
class ObjectRecord:
    """A stored object: ``etag`` without quotes, ``crc64`` of the whole object.

    ``data`` names the object's storage in the bucket's ``objects/`` directory: one file holding every byte
    when ``segments`` is empty (PUT Object, and any object of a data directory written before segments
    existed), else a directory holding the ``segments`` in order (Complete Multipart Upload).
    """

    bucket: str
    key: str
    etag: str
    crc64: int
    size: int
    last_modified: float
    headers: Tuple[Tuple[str, str], ...]
    encryption: Encryption
    data: str
    segments: Tuple[Segment, ...] = ()


class ObjectReader:
    """The bytes of one version of an object, readable until closed whatever happens to its key meanwhile.

    Get one from :meth:`Store.open_object`; use it as a context manager. ``record`` is the version being
    read: an overwrite or a delete after opening changes none of the bytes served from it.
    """

    def __init__(self, record: ObjectRecord, files: "_SegmentFiles", release: Callable[[], None]) -> None:
        self.record = record
        self._files = files
        self._release: Optional[Callable[[], None]] = release
        self._sizes = [segment.size for segment in record.segments] or [record.size]
        self._starts = [0] * len(self._sizes)
        for index in range(1, len(self._sizes)):
            self._starts[index] = self._starts[index - 1] + self._sizes[index - 1]

    def pieces(self, first: int, length: int) -> Iterator[Tuple[FileIO, int, int]]:
        """The ``(file, offset, count)`` runs holding bytes ``first`` to ``first + length - 1``, in order.

        A segment's file is opened when its turn comes and stays valid until the next run is asked for.

        Raises:
            OSError: The stored segments are shorter than the recorded size (a damaged data directory).
        """
        end = min(first + length, self.record.size)
        index = max(bisect.bisect_right(self._starts, first) - 1, 0)
        position = first
        while position < end:
            if index == len(self._sizes):
                raise OSError("the object's segments are shorter than its recorded size")
            count = min(self._starts[index] + self._sizes[index], end) - position
            if count > 0:
                yield self._files.get(index), position - self._starts[index], count
                position += count
            index += 1

    def close(self) -> None:
        """Close the files; the data of a version replaced meanwhile is removed with its last reader."""
        self._files.close()
        release, self._release = self._release, None
        if release is not None:
            release()

    def __enter__(self) -> "ObjectReader":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _SegmentFiles:
    """Files opened up front (a one-file object; segments where descriptors cannot be relative)."""

    def __init__(self, files: Sequence[FileIO]) -> None:
        self._files = list(files)

    def get(self, index: int) -> FileIO:
        return self._files[index]

    def close(self) -> None:
        for handle in self._files:
            handle.close()


class _LazySegmentFiles(_SegmentFiles):
    """Segments opened one at a time relative to the object's directory, held open by descriptor.

    The directory may be renamed (the object replaced or deleted) while it is read: the descriptor
    follows it, and the store removes it only after the last reader released it.
    """

    def __init__(self, directory: int, segments: Sequence[Segment]) -> None:
        super().__init__([])
        self._directory: Optional[int] = directory
        self._names = [segment.name for segment in segments]
        self._index = -1

    def get(self, index: int) -> FileIO:
        if index != self._index:
            super().close()
            if self._directory is None:
                raise ValueError("the object reader is closed")
            descriptor = os.open(self._names[index], os.O_RDONLY, dir_fd=self._directory)
            self._files = [open(descriptor, "rb", buffering=0)]
            self._index = index
        return self._files[0]

    def close(self) -> None:
        super().close()
        self._files = []
        directory, self._directory = self._directory, None
        if directory is not None:
            os.close(directory)


class BodySink:
    """A temporary file that hashes what is written to it; becomes a part or an object on commit.

    Use as a context manager: the file is removed on exit unless the store took it over.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.hasher = BodyHasher()
        self._file: Optional[IO[bytes]] = open(path, "xb")
        self.committed = False
        self._damage = False

    def damage_next_byte(self) -> None:
        """Change one bit of the next byte written (the ``corrupt`` fault): what is hashed is what is stored."""
        self._damage = True

    def write(self, data: memoryview) -> None:
        """Hash and store the next bytes."""
        if self._file is None:
            raise ValueError("the body sink is closed")
        if self._damage and len(data):
            damaged = bytearray(data)
            damaged[0] ^= 0x01
            data = memoryview(damaged)
            self._damage = False
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
        upper_etags: ETags in upper-case hex, as OSS writes them [oss-api 5.2].
    """

    def __init__(self, root: Path, clock: Callable[[], float] = time.time, *, upper_etags: bool = False) -> None:
        self.root = root
        self._clock = clock
        self._upper = upper_etags
        self._lock = threading.Lock()
        self._upload_locks: Dict[str, threading.Lock] = {}
        self._objects_lock = threading.Lock()  # object records, their data and the readers' pins
        self._pins: Dict[Path, int] = {}  # object directory -> readers holding it
        self._retired: Dict[Path, Path] = {}  # pinned object directory -> where it waits for removal
        self._keys: Dict[str, Set[str]] = {}  # bucket -> its keys, built at the first listing (objects lock)
        # Buckets whose directories are known made: the store never removes one, so once seen a bucket's
        # directories need no ``stat`` per request (two per PUT before).
        self._made: Dict[str, Path] = {}
        (root / "buckets").mkdir(parents=True, exist_ok=True)
        self._secret = self._load_secret()
        self._recover()

    # --- paths -------------------------------------------------------------------------------------

    def _bucket_dir(self, bucket: str) -> Path:
        made = self._made.get(bucket)
        if made is not None:
            return made
        path = self.root / "buckets" / bucket
        # ``tmp`` is made last, so when it exists the others do; the lock keeps a second request from seeing the
        # bucket directory before its subdirectories (a body streamed into a tmp/ that is not there yet).
        if not (path / "tmp").is_dir():
            with self._lock:
                for sub in ("uploads", "objects", "tmp"):
                    (path / sub).mkdir(parents=True, exist_ok=True)
        self._made[bucket] = path
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

    def _recover(self) -> None:
        """Finish what a previous run left half done: it stopped with readers open, or crashed mid-way."""
        for bucket in (self.root / "buckets").iterdir():
            if (bucket / "tmp").is_dir():
                for leftover in (bucket / "tmp").iterdir():  # bodies being received, data being removed
                    _remove(leftover)
            for storage in bucket.glob(f"objects/*{SEGMENTS_SUFFIX}"):
                if (storage / _UPLOAD_META).exists():
                    self._recover_complete(bucket, storage)

    def _recover_complete(self, bucket: Path, storage: Path) -> None:
        record = _read_object(storage.parent / f"{storage.name.split('.', 1)[0]}.json")
        if record is not None and record.data == storage.name:
            _tidy(storage, record.segments)  # Complete was recorded: drop its leftovers
        else:  # stopped before the record was written: the upload is back, as if Complete never ran
            upload = _upload_from_json(_read_json(storage / _UPLOAD_META))
            os.replace(storage, bucket / "uploads" / upload.upload_id)

    @contextlib.contextmanager
    def _upload_lock(self, upload_id: str) -> Iterator[None]:
        with self._lock:
            lock = self._upload_locks.setdefault(upload_id, threading.Lock())
        with lock:
            yield

    # --- bodies ------------------------------------------------------------------------------------

    def sink(self, bucket: str) -> BodySink:
        """A new temporary file in ``bucket`` to stream a body into."""
        return BodySink(self._bucket_dir(bucket) / "tmp" / f"{random_hex(12)}.tmp")

    def etag_for(self, md5_hex: str, encryption: Encryption) -> str:
        """The ETag COS would answer: the MD5 without SSE or with SSE-COS, something else for SSE-KMS and
        SSE-C (here an HMAC of the MD5 under the server's secret) [ref 6.4]."""
        if encryption.etag_is_md5:
            return self._cased(md5_hex)
        mac = hmac.new(self._secret, f"{encryption.mode}:{md5_hex}".encode("ascii"), hashlib.sha256)
        return self._cased(mac.hexdigest()[:32])

    def _cased(self, etag: str) -> str:
        return etag.upper() if self._upper else etag

    # --- buckets -----------------------------------------------------------------------------------

    def create_bucket(self, bucket: str) -> bool:
        """Hold ``bucket`` from now on (its directories made); ``False`` when it was already held."""
        path = self.root / "buckets" / bucket
        with self._lock:  # two PUT Buckets at once: one creates it, the other is told it exists
            if path.is_dir():
                return False
            for sub in ("uploads", "objects", "tmp"):  # tmp last, as _bucket_dir expects
                (path / sub).mkdir(parents=True, exist_ok=True)
        return True

    def has_bucket(self, bucket: str) -> bool:
        """Whether ``bucket`` is held (made by :meth:`create_bucket` now or in an earlier run)."""
        return bucket in self._made or (self.root / "buckets" / bucket).is_dir()

    def buckets(self) -> List[str]:
        """The buckets held, sorted."""
        return sorted(path.name for path in (self.root / "buckets").iterdir() if path.is_dir())

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
            data_name = f"part-{number:05d}.{random_hex(6)}.data"
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
        self, upload: UploadRecord, parts: Sequence[PartRecord], *, forbid_overwrite: bool = False
    ) -> ObjectRecord:
        """Make ``parts`` (from :meth:`list_parts`, checked by the caller) the object, without copying them.

        The upload's directory is renamed into the bucket's objects and the parts' files become the
        object's segments, in order; then the object's record is written, and only then is the key's
        previous version removed, and what the upload left besides the segments. The whole-object CRC-64 is
        combined (:func:`._hashing.crc64_of_parts`) from the CRCs this server computed over each part's bytes
        as it wrote them: the CRC of the bytes stored, without reading them again.

        Raises:
            ServiceError: 404 NoSuchUpload; 400 InvalidPart when one of ``parts`` was replaced since it was
                listed (the caller checked another part); 409 FileAlreadyExists.
        """
        with self._upload_lock(upload.upload_id):
            directory = self._upload_dir(upload.bucket, upload.upload_id)
            if not (directory / _UPLOAD_META).exists():
                raise no_such_upload()
            current = {record.number: record for record in self.list_parts(upload)}
            for part in parts:
                if current.get(part.number) != part:
                    raise ServiceError(400, "InvalidPart", f"Part {part.number} was replaced while completing.")
            meta = self._object_json(upload.bucket, upload.key)
            record = ObjectRecord(
                bucket=upload.bucket,
                key=upload.key,
                etag=self._multipart_etag(upload.upload_id, parts),
                crc64=crc64_of_parts((part.crc64, part.size) for part in parts),
                size=sum(part.size for part in parts),
                last_modified=self._clock(),
                headers=upload.headers,
                encryption=upload.encryption,
                data=f"{meta.stem}.{random_hex(6)}{SEGMENTS_SUFFIX}",
                segments=tuple(Segment(part.data, part.size) for part in parts),
            )
            storage = meta.parent / record.data
            with self._objects_lock:
                if forbid_overwrite and meta.exists():
                    raise file_exists()
                os.replace(directory, storage)  # the upload ends here; its part files are the object's now
                try:
                    previous = _swap_record(meta, record)
                except BaseException:
                    os.replace(storage, directory)  # no record names them: the upload is back as it was
                    raise
                self._indexed(upload.bucket, upload.key, present=True)
                garbage = self._retire(upload.bucket, previous)
            _remove(garbage)
            _tidy(storage, record.segments)
        with self._lock:
            self._upload_locks.pop(upload.upload_id, None)
        return record

    def _multipart_etag(self, upload_id: str, parts: Sequence[PartRecord]) -> str:
        # COS documents only the shape "<32 hex>-<number of parts>"; it is unique per upload [ref 2.3].
        digest = hashlib.md5(upload_id.encode("ascii"))
        for part in parts:
            digest.update(part.etag.encode("ascii"))
        return f"{self._cased(digest.hexdigest())}-{len(parts)}"

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
        meta = self._object_json(bucket, key)
        with self._objects_lock:
            if forbid_overwrite and meta.exists():
                raise file_exists()
            data_name = f"{meta.stem}.{random_hex(6)}.data"
            record = ObjectRecord(
                bucket, key, etag, sink.hasher.crc64, sink.hasher.size, self._clock(), tuple(headers), encryption,
                data_name,
            )
            os.replace(sink.path, meta.parent / data_name)
            try:
                previous = _swap_record(meta, record)
            except BaseException:
                os.replace(meta.parent / data_name, sink.path)  # the sink removes it
                raise
            sink.committed = True
            self._indexed(bucket, key, present=True)
            garbage = self._retire(bucket, previous)
        _remove(garbage)
        return record

    def get_object(self, bucket: str, key: str) -> ObjectRecord:
        """The object ``key``; 404 NoSuchKey when absent."""
        return _current(self._object_json(bucket, key), key)

    def has_object(self, bucket: str, key: str) -> bool:
        """Whether ``key`` holds an object."""
        record = _read_object(self._object_json(bucket, key))
        return record is not None and record.key == key

    def open_object(self, bucket: str, key: str) -> ObjectReader:
        """Open the current version of ``key`` for reading; 404 NoSuchKey when absent.

        The reader serves that version to the end even if the key is overwritten or deleted meanwhile.
        """
        meta = self._object_json(bucket, key)
        with self._objects_lock:  # no version can be retired between reading its record and opening it
            record = _current(meta, key)
            storage = meta.parent / record.data
            try:
                if not record.segments:
                    return ObjectReader(record, _SegmentFiles([open(storage, "rb", buffering=0)]), _nothing)
                if not LAZY_SEGMENTS:
                    return ObjectReader(record, _open_all(storage, record.segments), _nothing)
                directory = os.open(storage, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            except FileNotFoundError:
                raise ServiceError(500, "InternalError", "The object's data is missing.") from None
            self._pins[storage] = self._pins.get(storage, 0) + 1
        return ObjectReader(record, _LazySegmentFiles(directory, record.segments), lambda: self._unpin(storage))

    def delete_object(self, bucket: str, key: str) -> None:
        """Remove object ``key`` if it exists."""
        meta = self._object_json(bucket, key)
        with self._objects_lock:
            record = _read_object(meta)
            if record is None or record.key != key:
                return
            meta.unlink()
            self._indexed(bucket, key, present=False)
            garbage = self._retire(bucket, record)
        _remove(garbage)

    def list_keys(self, bucket: str) -> List[str]:
        """Every key of ``bucket``, ascending (by code point, which is the order of their UTF-8 bytes)."""
        with self._objects_lock:
            keys = self._keys.get(bucket)
            if keys is None:
                keys = set()
                for path in (self._bucket_dir(bucket) / "objects").glob("*.json"):
                    record = _read_object(path)
                    if record is not None:
                        keys.add(record.key)
                self._keys[bucket] = keys
            return sorted(keys)

    def find_object(self, bucket: str, key: str) -> Optional[ObjectRecord]:
        """The object ``key``, or ``None`` (deleted since it was listed)."""
        record = _read_object(self._object_json(bucket, key))
        return record if record is not None and record.key == key else None

    def _indexed(self, bucket: str, key: str, *, present: bool) -> None:
        keys = self._keys.get(bucket)  # objects lock held; nothing to do before the first listing
        if keys is not None:
            (keys.add if present else keys.discard)(key)

    def _retire(self, bucket: str, record: Optional[ObjectRecord]) -> Optional[Path]:
        """Move the data of a version no record names any more out of ``objects/`` (objects lock held).

        Returns what to remove now; ``None`` when a reader still holds it (its last reader removes it).
        """
        if record is None:
            return None
        bucket_dir = self._bucket_dir(bucket)
        storage = bucket_dir / "objects" / record.data
        trash = bucket_dir / "tmp" / f"retired-{random_hex(8)}"
        try:
            os.replace(storage, trash)  # readers hold descriptors, which follow the rename
        except FileNotFoundError:
            return None
        if storage in self._pins:
            self._retired[storage] = trash
            return None
        return trash

    def _unpin(self, storage: Path) -> None:
        with self._objects_lock:
            count = self._pins.pop(storage) - 1
            if count:
                self._pins[storage] = count
                return
            garbage = self._retired.pop(storage, None)
        _remove(garbage)


# --- helpers -------------------------------------------------------------------------------------------


def _nothing() -> None:
    pass


def _open_all(storage: Path, segments: Sequence[Segment]) -> _SegmentFiles:
    files: List[FileIO] = []
    try:
        for segment in segments:
            files.append(open(storage / segment.name, "rb", buffering=0))
    except BaseException:
        _SegmentFiles(files).close()
        raise
    return _SegmentFiles(files)


def _tidy(storage: Path, segments: Sequence[Segment]) -> None:
    """Remove what the upload left in an object's directory besides its segments; ``upload.json`` last, so
    a restart after a crash in here knows to finish the job (see ``Store._recover``)."""
    keep = {segment.name for segment in segments}
    keep.add(_UPLOAD_META)
    with contextlib.suppress(FileNotFoundError):  # the object may be replaced (and its data moved) meanwhile
        for entry in os.scandir(storage):
            if entry.name not in keep:
                os.unlink(entry.path)
        os.unlink(storage / _UPLOAD_META)


def _remove(path: Optional[Path]) -> None:
    if path is None:
        return
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _current(meta: Path, key: str) -> ObjectRecord:
    record = _read_object(meta)
    if record is None or record.key != key:
        raise ServiceError(404, "NoSuchKey", "The specified key does not exist.")
    return record


def _swap_record(meta: Path, record: ObjectRecord) -> Optional[ObjectRecord]:
    """Write ``record`` in place of the key's current one (atomically); return the one replaced."""
    previous = _read_object(meta)
    _write_json(meta, _object_to_json(record))
    return previous


def _write_json(path: Path, data: Dict[str, Any]) -> None:
    # Strings rather than Path methods: this runs once per PUT, and pathlib's with_name/write_text cost more
    # than the write itself.
    target = os.fspath(path)
    head, name = os.path.split(target)
    temporary = os.path.join(head, f".{name}.{random_hex(4)}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(data, ensure_ascii=False))
    os.replace(temporary, target)


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
    # What ``asdict`` gave, built by hand: its recursive deep copy was a third of the cost of a PUT's commit.
    data: Dict[str, Any] = {name: getattr(record, name) for name in _OBJECT_FIELDS}
    data["encryption"] = {name: getattr(record.encryption, name) for name in _ENCRYPTION_FIELDS}
    if record.segments:
        data["segments"] = [[segment.name, segment.size] for segment in record.segments]
    else:
        del data["segments"]  # a one-file object is written exactly as before segments existed
    return data


_OBJECT_FIELDS = tuple(item.name for item in fields(ObjectRecord))
_ENCRYPTION_FIELDS = tuple(item.name for item in fields(Encryption))


def _read_object(path: Path) -> Optional[ObjectRecord]:
    try:
        data = _read_json(path)
    except FileNotFoundError:
        return None
    data["headers"] = tuple((name, value) for name, value in data["headers"])
    data["encryption"] = Encryption(**data["encryption"])
    data["segments"] = tuple(Segment(name, size) for name, size in data.get("segments", ()))
    return ObjectRecord(**data)
