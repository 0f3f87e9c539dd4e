"""The one place where faults alter what the server answers: pure functions of a plan and a reply.

:func:`refusal` says what replaces the service when a fault pre-empts it (an injected error, or a reset
while the request body is still coming); :func:`altered` applies the rest to the service's reply (wrong
ETag, wrong CRC-64, a delay, a reset part way through the answer, an object body damaged or cut short). The wire carries the directives out.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Callable, Dict, Optional

from ._messages import Completed, Reply, Request, error_reply
from .faults import FaultPlan
from .protocol import ServiceError


def refusal(plan: FaultPlan, request: Request, body_pending: bool) -> Optional[Reply]:
    """The reply that replaces the service's for ``request``, or ``None`` when the service runs.

    ``body_pending`` says whether the request still has body bytes to receive.
    """
    if plan.error is not None:
        fault = plan.error
        return error_reply(request, ServiceError(fault.status, fault.code, fault.error_message))
    if plan.reset_after is not None and body_pending:
        return Reply(0)  # no answer: receive ``reset_after`` bytes of the body, then reset
    return None


def altered(reply: Reply, plan: FaultPlan) -> Reply:
    """``reply`` as the faults of ``plan`` change it."""
    if plan.is_clean:
        return reply
    changes: Dict[str, Any] = {"delay": plan.delay, "reset_after": plan.reset_after}
    if plan.wrong_etag and reply.etag is not None:
        changes["etag"] = wrong_etag(reply.etag)
    if plan.wrong_etag and reply.pending is not None:
        changes["pending"] = _with_wrong_etag(reply.pending)
    if plan.wrong_etag and reply.etag is None:  # a copy: the ETag is in its XML result
        changes["body"] = _COPY_RESULT_ETAG.sub(_wrong_first_digit, reply.body, count=1)
    if plan.wrong_crc64 and reply.crc64 is not None:
        changes["crc64"] = wrong_crc64(reply.crc64)
    if reply.stream is not None:  # an object body: damaged or cut short on its way out
        if plan.corrupt and reply.stream.length:
            changes["damage_at"] = min(plan.corrupt_at, reply.stream.length - 1)
        if plan.truncate_after is not None and reply.stream.length:
            changes["truncate_after"] = min(plan.truncate_after, reply.stream.length - 1)
    return replace(reply, **changes)


#: The ETag of a ``<CopyObjectResult>`` / ``<CopyPartResult>``: what precedes its first digit, and the digit.
_COPY_RESULT_ETAG = re.compile(rb"(<Copy(?:Object|Part)Result><ETag>(?:&quot;|\")?)([0-9A-Fa-f])")


def _wrong_first_digit(match: "re.Match[bytes]") -> bytes:
    return match.group(1) + wrong_etag(match.group(2).decode("ascii")).encode("ascii")


def wrong_etag(etag: str) -> str:
    """An ETag of the same shape that is not ``etag``."""
    return ("0" if etag[:1] != "0" else "1") + etag[1:]


def wrong_crc64(crc: int) -> int:
    """A CRC-64 that is not ``crc``."""
    return crc ^ 0x1


def _with_wrong_etag(pending: Callable[[], Completed]) -> Callable[[], Completed]:
    def complete() -> Completed:
        done = pending()
        return done if done.error is not None else replace(done, etag=wrong_etag(done.etag))

    return complete
