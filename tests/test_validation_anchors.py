"""Every validated field refuses a trailing newline (``$`` matches before one; full-string matches do not),
and header values refuse leading or trailing whitespace (a proxy may trim it after it was signed)."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Tuple

import pytest

from cos_multipart import CosValidationError, ObjectOptions, UploadConfig
from cos_multipart._protocol.endpoint import Endpoint, validate_bucket, validate_region
from cos_multipart._protocol.sse import SseKms
from cos_multipart._protocol import validation

GOOD_MD5 = "OScKloo1fSQgfpkRFiUH6w=="
GRANT = 'id="100000000001"'

#: (field, build(value) raising CosValidationError for a bad value, a good value).
FIELDS: List[Tuple[str, Callable[[str], Any], str]] = [
    ("bucket", validate_bucket, "examplebucket-1250000000"),
    ("region", validate_region, "ap-guangzhou"),
    ("endpoint", lambda v: Endpoint.parse("http://" + v), "127.0.0.1:9000"),
    ("metadata name", lambda v: ObjectOptions(metadata={v: "x"}), "origin"),
    ("metadata full name", lambda v: ObjectOptions(metadata={v: "x"}), "x-cos-meta-origin"),
    ("metadata value", lambda v: ObjectOptions(metadata={"origin": v}), "camera-7"),
    ("tag key", lambda v: ObjectOptions(tagging={v: "x"}), "team"),
    ("tag value", lambda v: ObjectOptions(tagging={"team": v}), "media"),
    ("tag string", lambda v: ObjectOptions(tagging="team=" + v), "media"),
    ("acl", lambda v: ObjectOptions(acl=v), "private"),  # type: ignore[arg-type]
    ("storage_class", lambda v: ObjectOptions(storage_class=v), "standard_ia"),  # type: ignore[arg-type]
    ("content_type", lambda v: ObjectOptions(content_type=v), "video/mp4"),
    ("cache_control", lambda v: ObjectOptions(cache_control=v), "no-cache"),
    ("content_disposition", lambda v: ObjectOptions(content_disposition=v), "attachment"),
    ("content_encoding", lambda v: ObjectOptions(content_encoding=v), "gzip"),
    ("expires", lambda v: ObjectOptions(expires=v), "Wed, 21 Oct 2015 07:28:00 GMT"),
    ("grant_read", lambda v: ObjectOptions(grant_read=v), GRANT),
    ("grant_read_acp", lambda v: ObjectOptions(grant_read_acp=v), GRANT),
    ("grant_write_acp", lambda v: ObjectOptions(grant_write_acp=v), GRANT),
    ("grant_full_control", lambda v: ObjectOptions(grant_full_control=v), GRANT + ',id="100000000002/100000000003"'),
    ("SseKms.key_id", lambda v: SseKms(key_id=v), "cmk-id"),
    ("content_md5", validation.content_md5, GOOD_MD5),
    ("upload_id", validation.upload_id, "1585130821cbb7df1d11846c073ad648e8f33b087cec2381df437acdc833cf654b9ecc6361"),
]


@pytest.mark.parametrize("field, build, good", FIELDS, ids=[f[0] for f in FIELDS])
def test_a_trailing_newline_is_refused_on_every_field(field: str, build: Callable[[str], Any], good: str) -> None:
    build(good)  # the good value passes, so the refusal below is about the newline alone
    for bad in (good + "\n", good + "\r\n", "\n" + good):
        with pytest.raises(CosValidationError):
            build(bad)


HEADER_FIELDS = [f for f in FIELDS if f[0] in (
    "metadata value", "content_type", "cache_control", "content_disposition", "content_encoding", "expires",
    "SseKms.key_id",
)]


@pytest.mark.parametrize("field, build, good", HEADER_FIELDS, ids=[f[0] for f in HEADER_FIELDS])
def test_header_values_with_outer_whitespace_are_refused(field: str, build: Callable[[str], Any], good: str) -> None:
    for bad in (" " + good, good + " ", "\t" + good, good + "\t"):
        with pytest.raises(CosValidationError) as caught:
            build(bad)
        assert "leading or trailing" in caught.value.allowed
    build(good.replace("-", " - ") if "-" in good else good)  # inner spaces stay allowed


def test_a_grant_list_cannot_hide_a_newline_between_grantees() -> None:
    with pytest.raises(CosValidationError):
        ObjectOptions(grant_read='id="1",\nid="2"')
    assert ObjectOptions(grant_read='id="1", id="2"').grant_read == 'id="1", id="2"'


@pytest.mark.parametrize("value", [5, 1.5, b"/tmp", ""])
def test_checkpoint_dir_of_the_wrong_type_is_a_validation_error(value: object) -> None:
    with pytest.raises(CosValidationError) as caught:
        UploadConfig(checkpoint_dir=value)  # type: ignore[arg-type]
    assert caught.value.field == "checkpoint_dir"


def test_headers_of_valid_options_are_unchanged() -> None:
    headers: Dict[str, str] = ObjectOptions(metadata={"a": "b c"}, tagging={"k": "v w"}).headers()
    assert headers["x-cos-meta-a"] == "b c" and headers["x-cos-tagging"] == "k=v%20w"
