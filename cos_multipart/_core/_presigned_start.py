"""Starting a presigned upload, the pure half (issue 26): the arguments checked, the state built after Initiate,
and the part URLs as values the application hands to the client."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field, replace
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from .._protocol._frozen import FrozenMapping, freeze
from .._protocol.endpoint import Endpoint
from .._protocol.errors import CosValidationError
from .._protocol.limits import MAX_PRESIGN_EXPIRES
from .._protocol.models import UploadInfo
from .._protocol.options import ObjectOptions
from .._protocol.signer import presign_expires
from .._protocol.sse import SseC
from .presigned import PresignedUpload, check_part_md5s, options_digest, plan_presigned

#: How long an upload stays usable before it counts as abandoned, unless told: a day.
DEFAULT_ABANDON_AFTER = 24 * 3600
DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class PartUrl:
    """One part's pre-signed ``PUT``: send exactly ``size`` bytes from ``offset`` of the file to ``url`` with
    ``headers`` before ``expires_at`` (Unix seconds). Its repr leaves the URL out (the URL is a credential
    until it expires: give it to the part's sender only)."""

    number: int
    url: str = field(repr=False)  # carries the signature and an STS token: never in a repr or a log
    offset: int = 0
    size: int = 0
    expires_at: int = 0
    headers: Mapping[str, str] = field(default_factory=lambda: FrozenMapping({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", freeze(dict(self.headers)))

    def to_json(self) -> Dict[str, Any]:
        """``{"part", "url", "offset", "size", "expires_at", "headers"}``: what a browser's script reads."""
        return {"part": self.number, "url": self.url, "offset": self.offset, "size": self.size,
                "expires_at": self.expires_at, "headers": dict(self.headers)}  # fmt: skip


@dataclass(frozen=True)
class StartRequest:
    """A start's arguments, checked (nothing sent yet)."""

    key: str
    size: int
    part_size: int
    expires: int
    abandon_after: int
    options: ObjectOptions
    part_md5s: Tuple[str, ...]

    def state(self, service: str, bucket: str, upload_id: str, now: float) -> PresignedUpload:
        """The state once Initiate answered ``upload_id`` at Unix time ``now``."""
        return PresignedUpload(
            service=service, bucket=bucket, key=self.key, upload_id=upload_id, size=self.size,
            part_size=self.part_size, started_at=int(now), expires_at=int(now) + self.abandon_after,
            options_digest=options_digest(self.options.headers()), part_md5s=self.part_md5s,
        )  # fmt: skip


def start_request(
    key: str, *, size: int, part_size: Optional[int], expires: int, abandon_after: Optional[int],
    options: Optional[ObjectOptions], part_md5s: Sequence[str], min_part_size: int,
) -> StartRequest:  # fmt: skip
    """Check a start's arguments and plan its parts.

    Raises:
        CosValidationError: ``size``, ``part_size`` (the service's limits), ``expires`` (1 s to 7 days),
            ``abandon_after`` (at least ``expires``), ``part_md5s`` (one base64 MD5 per part), or SSE-C in
            ``options`` (its key would have to travel with every part).
    """
    plan = plan_presigned(size, part_size, min_part_size=min_part_size)
    seconds = presign_expires(expires)
    after = DEFAULT_ABANDON_AFTER if abandon_after is None else abandon_after
    if isinstance(after, bool) or not isinstance(after, int) or not seconds <= after <= 4 * MAX_PRESIGN_EXPIRES:
        raise CosValidationError("abandon_after", after, f"whole seconds from expires ({seconds}) to {4 * MAX_PRESIGN_EXPIRES}")
    options = options if options is not None else ObjectOptions()
    if isinstance(options.sse, SseC):
        raise CosValidationError("encryption", "SseC", "SseCos, SseKms or none: a customer key would travel with every part URL's user")
    if options.content_type is None:
        options = replace(options, content_type=mimetypes.guess_type(key)[0] or DEFAULT_CONTENT_TYPE)
    md5s = check_part_md5s(tuple(part_md5s), plan.count)
    return StartRequest(key, size, plan.part_size, seconds, after, options, md5s)


def wanted_parts(state: PresignedUpload, parts: Optional[Iterable[int]]) -> Tuple[int, ...]:
    """The part numbers asked for (every part when ``None``), each checked against the plan.

    Raises:
        CosValidationError: A number outside the plan.
    """
    count = state.plan.count
    numbers = tuple(range(1, count + 1)) if parts is None else tuple(parts)
    for number in numbers:
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= count:
            raise CosValidationError("parts", number, f"part numbers from 1 to {count}")
    return numbers


def part_url(state: PresignedUpload, number: int, signed: Tuple[str, Mapping[str, str]], expires_at: int) -> PartUrl:
    """Part ``number``'s :class:`PartUrl` from the signed ``(url, headers)``."""
    offset, length = state.plan.part(number)
    return PartUrl(number=number, url=signed[0], offset=offset, size=length, expires_at=expires_at, headers=signed[1])


def check_state_for(state: PresignedUpload, client: Any) -> None:
    """Refuse a state that is not a :class:`PresignedUpload` of ``client``'s service and bucket (``client``: any
    object with ``dialect`` and ``bucket``, a sync or an async client)."""
    if not isinstance(state, PresignedUpload):
        raise CosValidationError("state", type(state).__name__, "a PresignedUpload (PresignedUpload.from_json reads one)")
    if (state.service, state.bucket) != (client.dialect.name, client.bucket):
        raise CosValidationError("state", f"{state.service}://{state.bucket}", f"an upload of {client.dialect.name}://{client.bucket}")


def stale_uploads(uploads: Iterable[UploadInfo], seconds: int, now: float) -> List[Tuple[str, str]]:
    """``(key, upload_id)`` of the uploads initiated before ``now - seconds`` (pure)."""
    return [
        (upload.key, upload.upload_id)
        for upload in uploads
        if upload.initiated is not None and upload.initiated.timestamp() <= now - seconds
    ]


def older_than(seconds: object) -> int:
    """``seconds`` of ``abort_older_than``, checked (before anything is listed).

    Raises:
        CosValidationError: Not whole seconds, 0 or more.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        raise CosValidationError("seconds", seconds, "whole seconds, 0 or more")
    return seconds


def check_part_endpoint(part_endpoint: Optional[str], client: Any) -> Optional[str]:
    """``part_endpoint`` once it is a base URL ``client``'s bucket can be reached at (checked when the
    presigned-uploads object is made, not at the first URL).

    Raises:
        CosValidationError: Naming ``part_endpoint``.
    """
    if part_endpoint is None:
        return None
    try:
        Endpoint.build(client.bucket, client.region, part_endpoint, dialect=client.dialect)
    except CosValidationError as error:
        raise CosValidationError("part_endpoint", part_endpoint, error.allowed) from error
    return part_endpoint
