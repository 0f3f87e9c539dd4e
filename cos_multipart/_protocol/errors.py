"""The exception tree: every error this package raises derives from :class:`CosError`.

::

    CosError
    ├── CosValidationError (also ValueError)   bad input, caught before any request is sent
    │   └── SourceNotFoundError                 the source file does not exist (also FileNotFoundError)
    ├── CosCredentialsError                    no usable credentials
    ├── CosTransportError                      connection failure or timeout after all retries
    │   └── CosTLSError                        the server's certificate or host name was refused (not retried)
    ├── CosServiceError                        COS answered with an error (status, code, request id, ...)
    │   └── UploadGoneError                     the running multipart upload was aborted elsewhere (NoSuchUpload)
    ├── CosResponseError                       COS answered something this package cannot interpret
    ├── CosIntegrityError                      local and remote checksums disagree
    │   └── PresignedPartsError                 a presigned upload's parts are not those planned or reported
    ├── CosCancelledError                      the operation was cancelled (Ctrl-C, another part failed)
    ├── SourceChangedError                     the local file changed while it was uploaded (or a copy's source object)
    ├── UploadLockedError                      another process (or upload) holds this upload's checkpoint lock
    ├── ObjectExistsError                      forbid_overwrite, and the key already holds an object
    └── ResumeError                            there is no interrupted upload to resume (or COS lost it)

After a failure that keeps a multipart upload for a resume (billed storage), the exception raised carries a
:class:`KeptUpload` (read it with :func:`kept_upload_of`): which upload, how far it got, where its checkpoint is.

Exceptions carry their context as attributes and never contain a secret: values of secret fields are
replaced by ``REDACTED`` before they reach a message.
"""

from __future__ import annotations

import enum
import errno
import re
from dataclasses import dataclass
from typing import Any, Iterable, Optional

REDACTED = "<redacted>"

# What an HTTP library's message may quote that must not reach an error: a query string (it can carry a
# signature or a token), a header value (requests' InvalidHeader quotes it: "... in header value: 'tok\\n'"),
# a signature inside an Authorization value.
_QUERY = re.compile(r"\?[^\s'\")]*")
_HEADER_VALUE = re.compile(r"(header value:?\s*).*", re.IGNORECASE | re.DOTALL)
_SIGNATURE = re.compile(r"(q-signature=)[^&\s'\"]*", re.IGNORECASE)


def redact(text: str, secrets: Iterable[Optional[str]] = ()) -> str:
    """``text`` (an HTTP library's error message) without query strings, quoted header values, signatures, or
    any of ``secrets`` (as given or as ``repr`` escapes them). Pure, so every transport redacts alike."""
    for secret in secrets:
        if secret:
            for form in {secret, repr(secret)[1:-1], secret.strip()}:
                if len(form) >= 4:  # a shorter "secret" would blank out ordinary words
                    text = text.replace(form, REDACTED)
    text = _QUERY.sub("", text)
    text = _HEADER_VALUE.sub(lambda match: match.group(1) + REDACTED, text)
    return _SIGNATURE.sub(lambda match: match.group(1) + REDACTED, text)


def quotes_secret(text: str, secrets: Iterable[Optional[str]] = ()) -> bool:
    """Whether :func:`redact` hides more of ``text`` than its query strings: a secret, a header value or a
    signature (then the exception behind the text must not be kept as a printed cause either)."""
    return redact(text, secrets) != _QUERY.sub("", text)


class CosError(Exception):
    """Base class of every error raised by cos_multipart.

    Errors pickle with their class, message and attributes (a cluster worker's error is raised again on the
    caller, where its type decides whether the upload is kept or aborted).
    """

    def __reduce__(self) -> Any:
        # Exception's default pickling replays self.args into __init__, which fails for signatures that differ
        # from the message (CosIntegrityError(what, local, remote)) and drops keyword-only attributes.
        return (_restore_error, (type(self), self.args, dict(self.__dict__)))


def _restore_error(cls: "type[CosError]", args: Any, state: Any) -> CosError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class CosValidationError(CosError, ValueError):
    """A request argument is not allowed; raised before anything is sent or created.

    Attributes:
        field: The argument or header at fault, e.g. ``"part_number"`` or ``"x-cos-traffic-limit"``.
        value: The offending value (``REDACTED`` for secrets).
        allowed: What would have been accepted, in words.
    """

    def __init__(self, field: str, value: Any, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"invalid {field}={_short_repr(value)}: {allowed}")


class SourceNotFoundError(CosValidationError, FileNotFoundError):
    """The file given as an upload's source does not exist (nothing was sent).

    A :class:`CosValidationError` (so ``except CosError`` catches it) and a :class:`FileNotFoundError` (so
    ``except OSError`` and ``errno`` checks work as for ``open``).

    Attributes:
        filename: The path as given.
    """

    def __init__(self, path: str, field: str = "source") -> None:
        super().__init__(field, path, "no such file or directory; give the path of an existing regular file")
        self.errno = errno.ENOENT
        self.strerror = "No such file or directory"
        self.filename = path

    def __str__(self) -> str:
        return str(self.args[0])  # the validation message, not OSError's "[Errno 2] ..."

    def __reduce__(self) -> Any:
        return (SourceNotFoundError, (self.filename, self.field))


class CosCredentialsError(CosError):
    """No credentials were given and none could be found in the environment."""


class FailureKind(enum.Enum):
    """How a request failed below HTTP, in words that do not depend on the HTTP library.

    Each transport maps its own exceptions to a kind (one function); the retry policy judges kinds, so it
    is the same for every transport. The values are the retry reasons recorded in a policy's history.
    """

    #: Refused, reset or broken while the request or its answer was on the wire. Retried.
    CONNECTION = "connection error"
    #: No connection or no answer within the timeout. Retried.
    TIMEOUT = "timeout"
    #: The TLS handshake or the certificate check failed: trying again cannot help. Never retried.
    TLS = "tls"
    #: The request body could not be read or rewound on this side. Never retried.
    BODY = "body"
    #: Any other failure of the HTTP library (an invalid URL or header...). Never retried.
    OTHER = "other"


class CosTransportError(CosError):
    """The request could not be completed at the connection level (after retries).

    Attributes:
        method: HTTP method.
        url: Request URL without the query string (the query may carry a signature).
        attempts: How many times the request was tried.
        kind: How it failed (:class:`FailureKind`); the retry policy decides from it.
        elapsed: Seconds from the first attempt's start to this failure (0 when unknown).

    The message says in plain words what failed (connection refused, reset, timed out, the host name not
    resolved), to which ``host:port``, after how many attempts over how long; the HTTP library's own
    exception, if any, is the ``__cause__``.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        url: str = "",
        attempts: int = 1,
        kind: FailureKind = FailureKind.OTHER,
        elapsed: float = 0.0,
    ) -> None:
        self.method = method
        self.url = url
        self.attempts = attempts
        self.kind = kind
        self.elapsed = elapsed
        over = f" over {elapsed:.1f} s" if attempts > 1 and elapsed > 0 else ""
        where = f" ({method} {url}, {attempts} attempt{'s' if attempts != 1 else ''}{over})" if method else ""
        super().__init__(f"{message}{where}")


class CosTLSError(CosTransportError):
    """The TLS connection could not be established: the server's certificate is not trusted, is for another
    host name, or the handshake failed. Never retried (another try gives the same answer).

    Attributes:
        host: The host the client connected to.
        certificate: Whether the certificate was refused (else the handshake failed for another reason).
        reason: What TLS said, e.g. ``"unable to get local issuer certificate"`` or ``"Hostname mismatch"``.
    """

    def __init__(
        self,
        host: str,
        reason: str,
        *,
        certificate: bool = True,
        method: str = "",
        url: str = "",
        attempts: int = 1,
    ) -> None:
        self.host = host
        self.reason = reason
        self.certificate = certificate
        super().__init__(self.explain(), method=method, url=url, attempts=attempts, kind=FailureKind.TLS)

    def explain(self, trust: str = "pass verify=<CA bundle path>") -> str:
        """What failed and what to do, ``trust`` saying how to name a CA bundle where the reader is (the
        library's argument by default; the command line says its flag)."""
        if self.certificate:
            return (
                f"TLS certificate verification failed for {self.host}: {self.reason}; if the server's certificate "
                f"comes from a private CA, {trust} or set SSL_CERT_FILE (or REQUESTS_CA_BUNDLE) to its CA bundle"
            )
        return f"TLS handshake with {self.host} failed: {self.reason} (does the endpoint speak HTTPS?)"


class CosServiceError(CosError):
    """COS answered with an error.

    Attributes:
        status: HTTP status code.
        code: COS error code, e.g. ``"NoSuchUpload"`` (empty when the body had none).
        message: COS error message.
        request_id: ``x-cos-request-id`` of the response.
        trace_id: ``x-cos-trace-id`` or ``<TraceId>``.
        resource: ``<Resource>`` of the error body.
        method: HTTP method of the request.
        url: Request URL without the query string.
        retry_after: Seconds the answer's ``Retry-After`` asked to wait (429, 503), or ``None``.
        ec: OSS's fine-grained error code (``x-oss-ec`` or ``<EC>``, e.g. ``"0042-00000213"``); ``""`` on COS.
        host_id: OSS's ``<HostId>`` (the host the request used); ``""`` on COS.
        service: The service that answered, ``"cos"`` or ``"oss"`` (set by the transport with the request;
            ``""`` for an error not raised by a transport).
    """

    def __init__(
        self,
        status: int,
        code: str = "",
        message: str = "",
        *,
        request_id: str = "",
        trace_id: str = "",
        resource: str = "",
        method: str = "",
        url: str = "",
        retry_after: Optional[float] = None,
        ec: str = "",
        host_id: str = "",
        service: str = "",
    ) -> None:
        self.service = service
        self.retry_after = retry_after
        self.ec = ec
        self.host_id = host_id
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.trace_id = trace_id
        self.resource = resource
        self.method = method
        self.url = url
        super().__init__(self._text())

    def in_request(self, method: str, url: str, service: str = "") -> "CosServiceError":
        """Record the request this answer was to, and the service that answered, unless a request is already
        recorded; returns this same error.

        The parsers that raise service errors see only the answer; the transport, which knows the request,
        adds it here, so the error keeps its identity and traceback (it is not rebuilt).
        """
        if not self.method:
            self.method = method
            self.url = url
            self.service = self.service or service
            self.args = (self._text(),)
        return self

    def _text(self) -> str:
        text = f"{self.status} {self.code or 'error'}"
        if self.message:
            text += f": {self.message}"
        if self.method:
            text += f" ({self.method} {self.url})"
        if self.request_id:
            text += f" [request id {self.request_id}]"
        return text

    @property
    def is_clock_error(self) -> bool:
        """True when COS rejected the request's time window (clock skew or an expired signature)."""
        return self.code == "RequestTimeTooSkewed" or (
            self.code == "AccessDenied" and "request has expired" in self.message.lower()
        )


class UploadGoneError(CosServiceError):
    """The multipart upload being run is gone: a part or Complete was answered 404 ``NoSuchUpload`` (someone
    aborted it from elsewhere, or a lifecycle rule removed it) and the object is not there complete.

    Nothing is kept: the checkpoint is deleted (a resume of it could only fail) and the error carries no
    :class:`KeptUpload`. Upload the file again to start a new upload.

    Attributes:
        bucket: Bucket.
        key: Object key.
        upload_id: The upload that is gone.
        service: ``"cos"`` or ``"oss"`` (the scheme of the target in the message).
        (and :class:`CosServiceError`'s, from the answer that said so)
    """

    def __init__(
        self, answer: CosServiceError, *, bucket: str, key: str, upload_id: str, service: str = "cos"
    ) -> None:
        self.bucket = bucket
        self.key = key
        self.upload_id = upload_id
        self.service = service
        super().__init__(
            answer.status, answer.code, answer.message, request_id=answer.request_id, trace_id=answer.trace_id,
            resource=answer.resource, method=answer.method, url=answer.url, retry_after=answer.retry_after,
            ec=answer.ec, host_id=answer.host_id, service=service,
        )  # fmt: skip

    def _text(self) -> str:
        text = (
            f"upload {self.upload_id} of {self.service}://{self.bucket}/{self.key} was aborted elsewhere "
            f"({self.code or self.status}); nothing kept"
        )
        return text + (f" [request id {self.request_id}]" if self.request_id else "")


class CosResponseError(CosError):
    """The response could not be interpreted (malformed XML, a missing element or header).

    Attributes:
        status: HTTP status code.
        request_id: ``x-cos-request-id`` of the response.
        detail: What was wrong.
    """

    def __init__(self, detail: str, *, status: int = 0, request_id: str = "") -> None:
        self.status = status
        self.request_id = request_id
        self.detail = detail
        suffix = f" [status {status}, request id {request_id}]" if status or request_id else ""
        super().__init__(f"unexpected response: {detail}{suffix}")


class CosIntegrityError(CosError):
    """A checksum computed here disagrees with the one COS reported.

    Attributes:
        what: ``"crc64"``, ``"etag"``, ``"size"``...
        local: The value computed from the local bytes.
        remote: The value COS reported.
        part_number: The part concerned, or ``None`` for the whole object.
        request_id: ``x-cos-request-id`` of the response that carried the remote value.
        outcome: What became of a completed object that did not match (deleted, or why not), or ``""``.
    """

    def __init__(
        self,
        what: str,
        local: Any,
        remote: Any,
        *,
        part_number: Optional[int] = None,
        request_id: str = "",
        outcome: str = "",
    ) -> None:
        self.what = what
        self.local = local
        self.remote = remote
        self.part_number = part_number
        self.request_id = request_id
        self.outcome = outcome
        scope = f"part {part_number}" if part_number is not None else "object"
        text = f"{what} mismatch for {scope}: local {local!r}, remote {remote!r}"
        if request_id:
            text += f" [request id {request_id}]"
        if outcome:
            text += f"; {outcome}"
        super().__init__(text)



class CosCancelledError(CosError):
    """The operation was cancelled before it finished: Ctrl-C, or another part of the upload failed."""

class SourceChangedError(CosError):
    """The local file changed while it was being uploaded (modified, replaced, shorter or longer than planned),
    or a server-side copy's source object was replaced while it was copied (412 to its pinned ETag).

    Never retried: sending the same request again would send other bytes. The upload is not completed.

    Attributes:
        path: The file, when known.
        expected: Bytes the plan expected at the failing offset.
        got: Bytes actually read.
    """

    def __init__(self, detail: str, *, path: str = "", expected: int = 0, got: int = 0) -> None:
        self.path = path
        self.expected = expected
        self.got = got
        super().__init__(detail)


class ObjectExistsError(CosError):
    """``forbid_overwrite`` is set and the key already holds an object (nothing was uploaded).

    Attributes:
        bucket: Bucket.
        key: Object key.
        service: ``"cos"`` or ``"oss"`` (the scheme of the target in the message).
    """

    def __init__(self, bucket: str, key: str, detail: str = "", *, service: str = "cos") -> None:
        self.bucket = bucket
        self.key = key
        self.service = service
        super().__init__(detail or f"{service}://{bucket}/{key} already exists and forbid_overwrite is set; nothing was uploaded")


class ResumeError(CosError):
    """A resume was asked for, but there is nothing to resume: no checkpoint, a stale one, or COS lost the upload.

    Attributes:
        path: The local file.
        key: Object key.
        reason: Why, in words.
    """

    def __init__(self, path: str, key: str, reason: str) -> None:
        self.path = path
        self.key = key
        self.reason = reason
        super().__init__(f"cannot resume the upload of {path} to {key}: {reason}")


@dataclass(frozen=True)
class KeptUpload:
    """A multipart upload kept after a failure so it can be resumed (its parts are stored, and billed).

    Attributes:
        bucket: Bucket.
        key: Object key.
        upload_id: The upload id (give it to ``cos-multipart abort`` to discard it).
        parts_done: Parts verified so far.
        parts_total: Parts of the plan.
        checkpoint: Path of the checkpoint file, or ``None``.
        source: The local file.
        service: ``"cos"`` or ``"oss"``: the scheme of the target in :meth:`describe`.
    """

    bucket: str
    key: str
    upload_id: str
    parts_done: int
    parts_total: int
    checkpoint: Optional[str]
    source: Optional[str] = None
    service: str = "cos"

    def describe(self) -> str:
        """One line: what was kept and the commands that resume or abort it."""
        target = f"{self.service}://{self.bucket}/{self.key}"
        resume = f"cos-multipart resume {self.source} {target}" if self.source else "re-run the same upload"
        return (
            f"upload kept: {self.parts_done}/{self.parts_total} parts of {target} (upload id {self.upload_id}); "
            f"resume with: {resume}; abort with: cos-multipart abort {target} {self.upload_id}"
        )


#: The attribute of an exception that carries its :class:`KeptUpload`.
KEPT_UPLOAD_ATTRIBUTE = "kept_upload"


def kept_upload_of(error: BaseException) -> Optional[KeptUpload]:
    """The upload kept for a resume when ``error`` stopped it, or ``None``.

    Also found on the exception ``error`` was raised from or while handling: ``asyncio.run`` answers Ctrl-C
    with a new ``KeyboardInterrupt`` raised while handling the cancelled upload's ``CancelledError``.
    """
    seen = 0
    current: Optional[BaseException] = error
    while current is not None and seen < 8:
        kept = getattr(current, KEPT_UPLOAD_ATTRIBUTE, None)
        if isinstance(kept, KeptUpload):
            return kept
        current = current.__cause__ or current.__context__
        seen += 1
    return None


class UploadLockedError(CosError):
    """Another process, or another upload in this process, is uploading the same file to the same key.

    Raised at once (never after waiting) when the lock beside the upload's checkpoint is held. Nothing of the
    other upload has been touched.

    Attributes:
        path: The lock file (``<checkpoint>.lock``).
        pid: Process id of the holder as written in the lock file, or ``None`` when it could not be read.
        host: Host name of the holder as written in the lock file, or ``None`` when it could not be read.
        in_process: True when the holder is another upload (another thread) of this very process.
    """

    def __init__(
        self, path: str, *, pid: Optional[int] = None, host: Optional[str] = None, in_process: bool = False
    ) -> None:
        self.path = path
        self.pid = pid
        self.host = host
        self.in_process = in_process
        holder = f"pid {pid}" if pid is not None else "pid unknown"
        if host:
            holder += f" on {host}"
        who = "another upload in this process" if in_process else "another cos-multipart process"
        super().__init__(
            f"{who} ({holder}) is uploading this file to this key; wait for it or stop it (lock: {path})"
        )

    def __reduce__(self) -> Any:
        # Keyword-only attributes do not survive Exception's default pickling (it replays self.args).
        return (_upload_locked_error, (self.path, self.pid, self.host, self.in_process))


def _upload_locked_error(path: str, pid: Optional[int], host: Optional[str], in_process: bool) -> UploadLockedError:
    return UploadLockedError(path, pid=pid, host=host, in_process=in_process)


def _short_repr(value: Any, limit: int = 120) -> str:
    text = value if value is REDACTED else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ObjectChangedError(CosError):
    """The object changed while it was being downloaded (a ranged GET pinned with ``If-Match`` to the ETag its
    HEAD saw answered 412): the ranges would mix two objects. Never retried; the target file is untouched and
    the temporary file removed (a new download starts from the new object).

    Attributes:
        key: The object key.
        etag: The ETag the download started from.
    """

    def __init__(self, key: str, etag: str, detail: str = "") -> None:
        self.key = key
        self.etag = etag
        super().__init__(detail or f"{key!r} changed during the download (it is no longer ETag {etag}); the target was not touched")
class PresignedPartsError(CosIntegrityError):
    """The parts of a presigned upload are not the ones planned or reported (issue 26); nothing was completed.

    Attributes:
        problems: Every part found wrong, in part order: ``(part_number, what, expected, got)`` where ``what``
            is ``"missing"``, ``"size"``, ``"extra"``, ``"crc64"`` (the client's value against the service's)
            or ``"etag"`` (the part was replaced after the client reported it). ``expected`` is the plan's or
            the client's value, ``got`` the service's (``None`` when absent).
        aborted: Whether the upload was aborted (else it is kept: send the parts named again, then complete).
    """

    def __init__(self, problems: Iterable[Any], *, aborted: bool, request_id: str = "") -> None:
        self.problems = tuple(tuple(problem) for problem in problems)
        self.aborted = aborted
        number, what, expected, got = self.problems[0] if self.problems else (None, "parts", None, None)
        outcome = "upload aborted" if aborted else "upload kept: send the parts named again, then complete"
        super().__init__(what, expected, got, part_number=number, request_id=request_id, outcome=outcome)
        listed = "; ".join(f"part {n}: {w} (expected {e!r}, got {g!r})" for n, w, e, g in self.problems)
        self.args = (f"presigned upload parts are wrong: {listed}; {outcome}",)

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self) -> Any:
        return (_presigned_parts_error, (self.problems, self.aborted, self.request_id))


def _presigned_parts_error(problems: Any, aborted: bool, request_id: str) -> "PresignedPartsError":
    return PresignedPartsError(problems, aborted=aborted, request_id=request_id)


class DownloadLockedError(UploadLockedError):
    """Another download (another process, or another thread of this one) is writing the same target file.

    An :class:`UploadLockedError` (the same lock, the same attributes; the command line exits with 7), raised at
    once before any request: the two would share the temporary file beside the target.
    """

    def __init__(
        self, path: str, *, pid: Optional[int] = None, host: Optional[str] = None, in_process: bool = False
    ) -> None:
        super().__init__(path, pid=pid, host=host, in_process=in_process)
        holder = f"pid {pid}" if pid is not None else "pid unknown"
        if host:
            holder += f" on {host}"
        who = "another download in this process" if in_process else "another cos-multipart process"
        self.args = (f"{who} ({holder}) is downloading to this file; wait for it or stop it (lock: {path})",)

    def __reduce__(self) -> Any:
        return (_restore_error, (type(self), self.args, dict(self.__dict__)))
