"""The server's Date / Last-Modified text: the same as formatting each time, whatever order times come in."""

from __future__ import annotations

import datetime

from cos_multipart.testing.protocol import http_date


def test_http_date_is_the_formatted_second_in_any_order() -> None:
    times = [0.0, 1.999, 1_700_000_000.5, 1_700_000_000.9999, 1_700_000_001.0, 1_700_000_000.2, -1.5, 2.5e9, 1.0]
    for moment in times + times[::-1]:
        expected = datetime.datetime.fromtimestamp(moment, datetime.timezone.utc)
        assert http_date(moment) == expected.strftime("%a, %d %b %Y %H:%M:%S GMT")
