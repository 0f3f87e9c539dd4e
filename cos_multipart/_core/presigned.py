"""A presigned multipart upload as a value (issue 26): what the application's server keeps between the request
that starts the upload and the one that completes it. Pure: no client, no clock, no secret.

The parts are sent by a client that holds no credentials (a browser, a phone) with one pre-signed ``PUT`` URL
each; the server side plans them from the size the client declares, and at the end checks what the service
holds against that plan and against the CRC-64 values the client reports (:mod:`._presigned_checks`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from .._protocol.errors import CosValidationError
from .._protocol.validation import content_md5
from .planner import PartPlan, plan_parts

#: The ``schema`` of :meth:`PresignedUpload.to_json`'s document; ``version`` changes when its fields do.
SCHEMA = "cos-multipart-presigned"
VERSION = 1
_MD5_RULE = "the base64 of a 16-byte MD5 (as Content-MD5 carries it), one per part of the plan"


@dataclass(frozen=True)
class PresignedUpload:
    """A started presigned upload: enough to sign more part URLs and to complete and verify it.

    It holds no secret (no key, no STS token, no signature): it may be stored in a web session, a database or a
    signed cookie, and sent to the browser as it is.

    Attributes:
        service: ``"cos"`` or ``"oss"``.
        bucket: The bucket.
        key: The object key.
        upload_id: The multipart upload's id.
        size: The object size the client declared.
        part_size: Bytes of every part but the last.
        started_at: Unix seconds when the upload was initiated.
        expires_at: Unix seconds after which the upload counts as abandoned (:func:`abandoned`); its first part
            URLs expire then too.
        options_digest: SHA-256 of the object's options (content type, metadata, ...), to recognise them later.
        part_md5s: Content-MD5 (base64) of every part when the client gave them: each part URL then signs it, and
            the service refuses a part whose bytes do not match; empty otherwise.
    """

    service: str
    bucket: str
    key: str
    upload_id: str
    size: int
    part_size: int
    started_at: int
    expires_at: int
    options_digest: str
    part_md5s: Tuple[str, ...] = ()

    @property
    def plan(self) -> PartPlan:
        """The part plan: ``count`` parts of ``part_size`` bytes, the last one shorter."""
        return PartPlan(size=self.size, part_size=self.part_size, count=max(1, -(-self.size // self.part_size)))

    def part_md5(self, number: int) -> Optional[str]:
        """Content-MD5 of part ``number`` when the client gave part MD5s, else ``None``."""
        self.plan.part(number)
        return self.part_md5s[number - 1] if self.part_md5s else None

    def to_json(self) -> Dict[str, Any]:
        """A JSON-serialisable document (:meth:`from_json` reads it back)."""
        return {
            "schema": SCHEMA, "version": VERSION, "service": self.service, "bucket": self.bucket, "key": self.key,
            "upload_id": self.upload_id, "size": self.size, "part_size": self.part_size,
            "started_at": self.started_at, "expires_at": self.expires_at, "options_digest": self.options_digest,
            "part_md5s": list(self.part_md5s),
        }  # fmt: skip

    def dumps(self) -> str:
        """:meth:`to_json` as compact JSON text."""
        return json.dumps(self.to_json(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, document: Any) -> "PresignedUpload":
        """Read a document written by :meth:`to_json` (or its JSON text), checking every field.

        Raises:
            CosValidationError: Not such a document, or a field out of range (named in ``field``).
        """
        if isinstance(document, (str, bytes)):
            try:
                document = json.loads(document)
            except ValueError as error:
                raise CosValidationError("state", "(not JSON)", f"a {SCHEMA} document") from error
        if not isinstance(document, Mapping) or document.get("schema") != SCHEMA or document.get("version") != VERSION:
            raise CosValidationError("state", "(other document)", f"a {SCHEMA} document of version {VERSION}")
        texts = {name: _text(document, name) for name in ("service", "bucket", "key", "upload_id", "options_digest")}
        numbers = {name: _number(document, name) for name in ("size", "part_size", "started_at", "expires_at")}
        md5s = document.get("part_md5s", [])
        if not isinstance(md5s, list):
            raise CosValidationError("state.part_md5s", md5s, _MD5_RULE)
        state = cls(**texts, **numbers, part_md5s=tuple(md5s))  # type: ignore[arg-type]
        if state.part_size < 1:
            raise CosValidationError("state.part_size", state.part_size, "a positive number of bytes")
        check_part_md5s(state.part_md5s, state.plan.count)
        return state


def plan_presigned(size: int, part_size: Optional[int], *, min_part_size: int) -> PartPlan:
    """The parts of a presigned upload of ``size`` bytes: ``part_size`` when the client chose one (checked
    against the service's limits), else the automatic size (8 MB, more for objects over 78 GiB).

    Raises:
        CosValidationError: ``size`` or ``part_size`` out of range (named, with the value and what is allowed).
    """
    return plan_parts(size, part_size, min_part_size=min_part_size)


def check_part_md5s(md5s: Sequence[str], count: int) -> Tuple[str, ...]:
    """``md5s`` as a tuple once each is a base64 MD5 and there is one per part (or none at all).

    Raises:
        CosValidationError: Naming ``part_md5s`` (or the part) and the rule.
    """
    if md5s and len(md5s) != count:
        raise CosValidationError("part_md5s", f"{len(md5s)} values", f"{count} values: {_MD5_RULE}")
    for number, value in enumerate(md5s, 1):
        content_md5(value, f"part_md5s[part {number}]")
    return tuple(md5s)


def options_digest(headers: Mapping[str, str]) -> str:
    """SHA-256 of the object's option headers (never a secret: SSE-C is refused for presigned uploads)."""
    text = json.dumps({name.lower(): value for name, value in headers.items()}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def abandoned(state: PresignedUpload, now: float) -> bool:
    """Whether ``state`` is past its :attr:`~PresignedUpload.expires_at` at Unix time ``now`` (abort it)."""
    return now >= state.expires_at


def _text(document: Mapping[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or (not value and name != "options_digest"):
        raise CosValidationError(f"state.{name}", value, "a non-empty string")
    return value


def _number(document: Mapping[str, Any], name: str) -> int:
    value = document.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CosValidationError(f"state.{name}", value, "a whole number, 0 or more")
    return value
