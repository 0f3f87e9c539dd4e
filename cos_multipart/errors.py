"""The exception tree: every error this package raises derives from :class:`CosError`.

::

    CosError
    ├── CosValidationError (also ValueError)   bad input, caught before any request is sent
    ├── CosCredentialsError                    no usable credentials
    ├── CosTransportError                      connection failure or timeout after all retries
    │   └── CosTLSError                        the server's certificate or host name was refused (not retried)
    ├── CosServiceError                        COS answered with an error (status, code, request id, ...)
    ├── CosResponseError                       COS answered something this package cannot interpret
    ├── CosIntegrityError                      local and remote checksums disagree
    ├── CosCancelledError                      the operation was cancelled (Ctrl-C, another part failed)
    └── SourceChangedError                     the local file changed while it was being uploaded

Exceptions carry their context as attributes and never contain a secret: values of secret fields are
replaced by ``REDACTED`` before they reach a message.
"""

from __future__ import annotations

from typing import Any, Optional

REDACTED = "<redacted>"


class CosError(Exception):
    """Base class of every error raised by cos_multipart."""


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


class CosCredentialsError(CosError):
    """No credentials were given and none could be found in the environment."""


class CosTransportError(CosError):
    """The request could not be completed at the connection level (after retries).

    Attributes:
        method: HTTP method.
        url: Request URL without the query string (the query may carry a signature).
        attempts: How many times the request was tried.
    """

    def __init__(self, message: str, *, method: str = "", url: str = "", attempts: int = 1) -> None:
        self.method = method
        self.url = url
        self.attempts = attempts
        where = f" ({method} {url}, {attempts} attempt{'s' if attempts != 1 else ''})" if method else ""
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
        if certificate:
            message = (
                f"TLS certificate verification failed for {host}: {reason}; if the server's certificate comes "
                "from a private CA, pass verify=<CA bundle path> or set REQUESTS_CA_BUNDLE (or SSL_CERT_FILE)"
            )
        else:
            message = f"TLS handshake with {host} failed: {reason} (does the endpoint speak HTTPS?)"
        super().__init__(message, method=method, url=url, attempts=attempts)


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
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.trace_id = trace_id
        self.resource = resource
        self.method = method
        self.url = url
        text = f"{status} {code or 'error'}"
        if message:
            text += f": {message}"
        if method:
            text += f" ({method} {url})"
        if request_id:
            text += f" [request id {request_id}]"
        super().__init__(text)

    @property
    def is_clock_error(self) -> bool:
        """True when COS rejected the request's time window (clock skew or an expired signature)."""
        return self.code == "RequestTimeTooSkewed" or (
            self.code == "AccessDenied" and "request has expired" in self.message.lower()
        )


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
    """

    def __init__(
        self,
        what: str,
        local: Any,
        remote: Any,
        *,
        part_number: Optional[int] = None,
        request_id: str = "",
    ) -> None:
        self.what = what
        self.local = local
        self.remote = remote
        self.part_number = part_number
        self.request_id = request_id
        scope = f"part {part_number}" if part_number is not None else "object"
        text = f"{what} mismatch for {scope}: local {local!r}, remote {remote!r}"
        if request_id:
            text += f" [request id {request_id}]"
        super().__init__(text)



class CosCancelledError(CosError):
    """The operation was cancelled before it finished: Ctrl-C, or another part of the upload failed."""

class SourceChangedError(CosError):
    """The local file changed while it was being uploaded (it became shorter than planned).

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


def _short_repr(value: Any, limit: int = 120) -> str:
    text = value if value is REDACTED else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
