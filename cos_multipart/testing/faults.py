"""Faults and network conditions the local server can inject, switchable while it runs.

A :class:`Fault` is an immutable description ("the 2nd UploadPart from now answers 503 SlowDown"); the
:class:`FaultController` of a running server holds the installed faults, counts the requests each one has
seen, and turns them into a :class:`FaultPlan` for every request. Conditions that apply to every request
(a per-connection bandwidth cap and an added latency) live on the controller too.

Faults count matching requests from the moment they are installed, so a test can say "fail the next
request" without knowing how many requests came before.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from .._protocol.errors import CosValidationError

#: The API names faults select on (the CAM action names of the COS documentation, 436/30580).
API_NAMES = frozenset(
    {
        "InitiateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
        "ListParts",
        "ListMultipartUploads",
        "PutObject",
        "GetObject",
        "HeadObject",
        "DeleteObject",
        "ListObjects",
        "DeleteMultipleObjects",
        "PutBucket",
        "PutObjectCopy",
        "UploadPartCopy",
        "PutBucketCors",
        "DeleteBucketCors",
    }
)

#: What a fault does: answer an error; reset the connection part way through the body; delay the response;
#: return a wrong ETag; return a wrong x-cos-hash-crc64ecma; store (or, for GetObject, send) the body with
#: one bit changed; send fewer object bytes than Content-Length and close the connection; replace a copy's
#: source object after serving the copy.
FAULT_KINDS = ("error", "reset", "delay", "wrong_etag", "wrong_crc64", "corrupt", "truncate", "replace_source")

#: The error code a status implies when a fault names only the status [ref 4.2].
DEFAULT_CODES = {
    400: "RequestTimeout",
    403: "RequestTimeTooSkewed",
    404: "NoSuchUpload",
    500: "InternalError",
    502: "BadGateway",
    503: "SlowDown",
    504: "GatewayTimeout",
}
_DEFAULT_MESSAGES = {
    "InternalError": "We encountered an internal error. Please try again.",
    "SlowDown": "Please reduce your request rate.",
    "RequestTimeout": "Your socket connection to the server was not read from or written to within the timeout period.",
    "RequestTimeTooSkewed": "The difference between the request time and the server's time is too large.",
    "ServiceUnavailable": "Please reduce your request rate.",
}


@dataclass(frozen=True)
class Fault:
    """One fault: what happens, to which API, and on which requests.

    Use the constructors (:meth:`error`, :meth:`reset`, :meth:`delay`, :meth:`wrong_etag`,
    :meth:`wrong_crc64`, :meth:`corrupt`) or :meth:`parse` for the command line.

    Attributes:
        kind: One of :data:`FAULT_KINDS`.
        api: The API it applies to (one of :data:`API_NAMES`), or ``None`` for every request.
        nth: The first matching request it fires on, counted from 1 when the fault is installed.
        count: How many consecutive matching requests it fires on from ``nth``; ``None`` for all of them.
        rate: Instead of ``nth``/``count`` (which are then ignored): the fraction of matching requests it
            fires on (0 < rate <= 1), drawn from a generator seeded with ``seed`` so a run is reproducible.
        seed: Seed of the ``rate`` generator.
        status: HTTP status of an ``error`` fault.
        code: COS error code of an ``error`` fault.
        message: Error message (a default per code when empty).
        after_bytes: ``reset``: body bytes transferred before the connection is reset; ``truncate``: object
            bytes sent before the connection is closed; ``corrupt`` of a GetObject: the offset in the answer's
            body of the byte whose lowest bit is flipped.
        seconds: ``delay``: how long the response is held back.
    """

    kind: str
    api: Optional[str] = None
    nth: int = 1
    count: Optional[int] = 1
    rate: Optional[float] = None
    seed: int = 0
    status: int = 500
    code: str = "InternalError"
    message: str = ""
    after_bytes: int = 0
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise CosValidationError("kind", self.kind, f"one of {', '.join(FAULT_KINDS)}")
        if self.api is not None and self.api not in API_NAMES:
            raise CosValidationError("api", self.api, f"None or one of {', '.join(sorted(API_NAMES))}")
        if self.nth < 1:
            raise CosValidationError("nth", self.nth, "an integer >= 1 (the first matching request is 1)")
        if self.count is not None and self.count < 1:
            raise CosValidationError("count", self.count, "None (every request) or an integer >= 1")
        if self.rate is not None and not 0.0 < self.rate <= 1.0:
            raise CosValidationError("rate", self.rate, "a fraction with 0 < rate <= 1")
        if not 100 <= self.status <= 599:
            raise CosValidationError("status", self.status, "an HTTP status 100..599")
        if self.after_bytes < 0:
            raise CosValidationError("after_bytes", self.after_bytes, "an integer >= 0")
        if self.seconds < 0:
            raise CosValidationError("seconds", self.seconds, "a number of seconds >= 0")

    # --- constructors -------------------------------------------------------------------------------

    @classmethod
    def error(
        cls,
        api: Optional[str] = None,
        *,
        status: int = 500,
        code: Optional[str] = None,
        message: str = "",
        nth: int = 1,
        count: Optional[int] = 1,
        rate: Optional[float] = None,
        seed: int = 0,
    ) -> "Fault":
        """Answer ``status``/``code`` instead of serving the request (the body is read and discarded).

        ``code`` defaults to the usual code of the status: 500 InternalError, 503 SlowDown,
        400 RequestTimeout, 403 RequestTimeTooSkewed.
        """
        return cls(
            "error",
            api,
            nth=nth,
            count=count,
            rate=rate,
            seed=seed,
            status=status,
            code=code or DEFAULT_CODES.get(status, "InternalError"),
            message=message,
        )

    @classmethod
    def reset(
        cls,
        api: Optional[str] = None,
        *,
        after_bytes: int = 0,
        nth: int = 1,
        count: Optional[int] = 1,
        rate: Optional[float] = None,
        seed: int = 0,
    ) -> "Fault":
        """Reset the TCP connection after ``after_bytes`` of the request body (of the response body for
        requests without one), without answering."""
        return cls("reset", api, nth=nth, count=count, rate=rate, seed=seed, after_bytes=after_bytes)

    @classmethod
    def delay(
        cls,
        seconds: float,
        api: Optional[str] = None,
        *,
        nth: int = 1,
        count: Optional[int] = 1,
        rate: Optional[float] = None,
        seed: int = 0,
    ) -> "Fault":
        """Hold the response back for ``seconds`` after the request was served."""
        return cls("delay", api, nth=nth, count=count, rate=rate, seed=seed, seconds=seconds)

    @classmethod
    def wrong_etag(
        cls, api: Optional[str] = "UploadPart", *, nth: int = 1, count: Optional[int] = 1
    ) -> "Fault":
        """Serve the request but answer an ETag that is not the one stored."""
        return cls("wrong_etag", api, nth=nth, count=count)

    @classmethod
    def wrong_crc64(
        cls, api: Optional[str] = "UploadPart", *, nth: int = 1, count: Optional[int] = 1
    ) -> "Fault":
        """Serve the request but answer an ``x-cos-hash-crc64ecma`` that is not the CRC64 of the data."""
        return cls("wrong_crc64", api, nth=nth, count=count)

    @classmethod
    def corrupt(
        cls, api: Optional[str] = "UploadPart", *, nth: int = 1, count: Optional[int] = 1, after_bytes: int = 0
    ) -> "Fault":
        """Damage one bit of a body, as a network that damages data without TCP noticing would.

        Upload Part and PUT Object: the request body is stored with one bit of its first byte changed; the
        server answers the ETag and CRC-64 of the bytes it stored, so a client that checks them sees the
        damage, one that does not finds it in the object's CRC-64 at Complete. GetObject: the object bytes
        sent have the lowest bit of the byte at offset ``after_bytes`` of the answer's body flipped (the last
        byte when the body is shorter); the headers (ETag, CRC-64, Content-Length) are the object's, so only
        a client that checks the bytes it received notices. Other requests are served as they are.
        """
        return cls("corrupt", api, nth=nth, count=count, after_bytes=after_bytes)

    @classmethod
    def truncate(
        cls, api: Optional[str] = "GetObject", *, after_bytes: int = 0, nth: int = 1, count: Optional[int] = 1
    ) -> "Fault":
        """Answer a GetObject with its headers (the full ``Content-Length``) and only ``after_bytes`` bytes of
        the body (at most all but one), then close the connection cleanly, as a peer or proxy that gives up
        mid-answer does; a 0-byte answer is sent whole. Other requests are served as they are."""
        return cls("truncate", api, nth=nth, count=count, after_bytes=after_bytes)

    @classmethod
    def replace_source(cls, api: Optional[str] = "UploadPartCopy", *, nth: int = 1, count: Optional[int] = 1) -> "Fault":
        """Serve the copy (Upload Part - Copy by default, or PUT Object - Copy), then, if it succeeded, overwrite
        its source object with other bytes of the same size (every byte inverted; a 0-byte source gets one
        byte): a new ETag and CRC-64, the same headers and encryption. A copy pinned with
        ``x-cos-copy-source-if-match`` then fails its next part with 412. With ``api="GetObject"`` the object a
        GET read is replaced once it is served (the answer still carries the version it opened): a download
        pinned with ``If-Match`` fails its next range with 412. Other requests are served as they are."""
        return cls("replace_source", api, nth=nth, count=count)

    @classmethod
    def parse(cls, spec: str) -> "Fault":
        """Parse the command-line form ``kind[:name=value,...]``.

        Examples: ``error:api=UploadPart,nth=2,status=503``, ``error:api=UploadPart,rate=0.1,seed=7``,
        ``reset:api=UploadPart,after_bytes=65536``, ``delay:seconds=1.5``, ``wrong_crc64:api=UploadPart``,
        ``corrupt:api=GetObject,nth=2,after_bytes=100``, ``truncate:api=GetObject,after_bytes=4096``,
        ``replace_source:api=UploadPartCopy,nth=2``.
        ``count=all`` fires on every matching request from ``nth`` on.

        Raises:
            CosValidationError: Unknown kind or option, or a value out of range.
        """
        kind, _, options = spec.partition(":")
        values: Dict[str, str] = {}
        for item in filter(None, (part.strip() for part in options.split(","))):
            name, sep, value = item.partition("=")
            if not sep:
                raise CosValidationError("fault", spec, "options written as name=value, separated by commas")
            values[name.strip()] = value.strip()
        return cls._from_options(kind.strip(), values, spec)

    @classmethod
    def _from_options(cls, kind: str, values: Dict[str, str], spec: str) -> "Fault":
        converters: Dict[str, Callable[[str], Any]] = {
            "api": str,
            "nth": int,
            "count": lambda text: None if text == "all" else int(text),
            "rate": float,
            "seed": int,
            "status": int,
            "code": str,
            "message": str,
            "after_bytes": int,
            "seconds": float,
        }
        unknown = sorted(set(values) - set(converters))
        if unknown:
            raise CosValidationError("fault", spec, f"options among {', '.join(sorted(converters))}")
        try:
            kwargs = {name: converters[name](text) for name, text in values.items()}
        except ValueError as error:
            raise CosValidationError("fault", spec, f"numbers where numbers are expected ({error})") from None
        if kind == "error" and "code" not in kwargs:
            kwargs["code"] = DEFAULT_CODES.get(int(kwargs.get("status", 500)), "InternalError")
        return cls(kind, **kwargs)

    @property
    def error_message(self) -> str:
        """The message an ``error`` fault answers with."""
        return self.message or _DEFAULT_MESSAGES.get(self.code, "Injected fault.")


@dataclass(frozen=True)
class FaultPlan:
    """What the faults installed on a server do to one request."""

    error: Optional[Fault] = None
    reset_after: Optional[int] = None
    delay: float = 0.0
    wrong_etag: bool = False
    wrong_crc64: bool = False
    corrupt: bool = False
    corrupt_at: int = 0
    truncate_after: Optional[int] = None
    replace_source: bool = False

    @property
    def is_clean(self) -> bool:
        """True when no fault applies."""
        return self == CLEAN_PLAN


#: The plan of a request no fault applies to.
CLEAN_PLAN = FaultPlan()


@dataclass
class _Installed:
    fault: Fault
    seen: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def fires(self) -> bool:
        self.seen += 1
        if self.fault.rate is not None:
            return self.rng.random() < self.fault.rate
        if self.seen < self.fault.nth:
            return False
        return self.fault.count is None or self.seen < self.fault.nth + self.fault.count


@dataclass(frozen=True)
class FiredFault:
    """A record of a fault that fired (for tests: which request got what)."""

    api: str
    kind: str
    request_number: int


class FaultController:
    """The faults and conditions of one server; every method is thread-safe and takes effect at once.

    Args:
        faults: Faults installed from the start.
        bandwidth: Per-connection cap on body transfer, bytes per second (``None``: unlimited).
        latency: Seconds added before every request is served.
    """

    def __init__(
        self, faults: Iterable[Fault] = (), *, bandwidth: Optional[float] = None, latency: float = 0.0
    ) -> None:
        self._lock = threading.Lock()
        self._installed: List[_Installed] = []
        self._fired: List[FiredFault] = []
        self._requests: Dict[str, int] = {}
        self._bandwidth: Optional[float] = None
        self._latency = 0.0
        self.set_bandwidth(bandwidth)
        self.set_latency(latency)
        for fault in faults:
            self.add(fault)

    def add(self, fault: Fault) -> Fault:
        """Install ``fault``; it counts matching requests from now on. Returns it (for :meth:`remove`)."""
        with self._lock:
            self._installed.append(_Installed(fault, rng=random.Random(fault.seed)))
        return fault

    def remove(self, fault: Fault) -> None:
        """Uninstall every installed fault equal to ``fault``."""
        with self._lock:
            self._installed = [item for item in self._installed if item.fault != fault]

    def clear(self) -> None:
        """Remove every fault and condition."""
        with self._lock:
            self._installed = []
            self._bandwidth = None
            self._latency = 0.0

    def set_bandwidth(self, bytes_per_second: Optional[float]) -> None:
        """Cap each connection's body transfer at ``bytes_per_second`` (``None`` removes the cap)."""
        if bytes_per_second is not None and bytes_per_second <= 0:
            raise CosValidationError("bandwidth", bytes_per_second, "None or a positive number of bytes/s")
        with self._lock:
            self._bandwidth = bytes_per_second

    def set_latency(self, seconds: float) -> None:
        """Add ``seconds`` before every request is served (0 removes it)."""
        if seconds < 0:
            raise CosValidationError("latency", seconds, "a number of seconds >= 0")
        with self._lock:
            self._latency = seconds

    @property
    def bandwidth(self) -> Optional[float]:
        """The per-connection cap in bytes/s, or ``None``."""
        return self._bandwidth

    @property
    def latency(self) -> float:
        """Seconds added before every request."""
        return self._latency

    @property
    def faults(self) -> Tuple[Fault, ...]:
        """The installed faults, in order."""
        with self._lock:
            return tuple(item.fault for item in self._installed)

    @property
    def fired(self) -> Tuple[FiredFault, ...]:
        """Every fault that fired so far, in order."""
        with self._lock:
            return tuple(self._fired)

    def requests_seen(self, api: Optional[str] = None) -> int:
        """How many requests of ``api`` (all APIs for ``None``) were planned since the server started."""
        with self._lock:
            if api is None:
                return sum(self._requests.values())
            return self._requests.get(api, 0)

    def plan(self, api: str) -> FaultPlan:
        """Count one request of ``api`` and return what the installed faults do to it."""
        with self._lock:
            self._requests[api] = self._requests.get(api, 0) + 1
            number = self._requests[api]
            plan = CLEAN_PLAN
            for item in self._installed:
                if item.fault.api not in (None, api) or not item.fires():
                    continue
                plan = _merge(plan, item.fault)
                self._fired.append(FiredFault(api, item.fault.kind, number))
            return plan


def _merge(plan: FaultPlan, fault: Fault) -> FaultPlan:
    if fault.kind == "error":
        return plan if plan.error is not None else replace(plan, error=fault)
    if fault.kind == "reset":
        return plan if plan.reset_after is not None else replace(plan, reset_after=fault.after_bytes)
    if fault.kind == "delay":
        return replace(plan, delay=plan.delay + fault.seconds)
    if fault.kind == "wrong_etag":
        return replace(plan, wrong_etag=True)
    if fault.kind == "corrupt":
        return plan if plan.corrupt else replace(plan, corrupt=True, corrupt_at=fault.after_bytes)
    if fault.kind == "replace_source":
        return replace(plan, replace_source=True)
    if fault.kind == "truncate":
        return plan if plan.truncate_after is not None else replace(plan, truncate_after=fault.after_bytes)
    return replace(plan, wrong_crc64=True)
