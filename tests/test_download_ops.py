"""GET Object's builder: If-Match and the traffic limit a download pins and paces its ranges with."""

from __future__ import annotations

import pytest

from cos_multipart._protocol.errors import CosValidationError
from cos_multipart._protocol.operations import prepare_get_object


def test_if_match_and_traffic_limit_go_out_as_headers() -> None:
    call = prepare_get_object("k", byte_range=(0, 9), if_match='"abc"', traffic_limit=819200)
    headers = dict(call.headers)
    assert headers["If-Match"] == '"abc"'
    assert headers["x-cos-traffic-limit"] == "819200"
    assert headers["Range"] == "bytes=0-9"


def test_without_them_nothing_is_added() -> None:
    call = prepare_get_object("k")
    assert "If-Match" not in dict(call.headers) and "x-cos-traffic-limit" not in dict(call.headers)


@pytest.mark.parametrize("value", ["", "a\nb", 5])
def test_a_bad_if_match_is_refused_naming_the_field(value: object) -> None:
    with pytest.raises(CosValidationError) as caught:
        prepare_get_object("k", if_match=value)  # type: ignore[arg-type]
    assert caught.value.field == "if_match"


def test_a_traffic_limit_out_of_range_is_refused() -> None:
    with pytest.raises(CosValidationError) as caught:
        prepare_get_object("k", traffic_limit=10)
    assert caught.value.field == "traffic_limit"
