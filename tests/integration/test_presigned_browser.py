"""End to end in a real headless Chromium: the example application's page slices a file, computes each part's
CRC-64 in JavaScript, PUTs the parts with ``fetch`` across origins (the local server answers the preflight as
COS/OSS do for a bucket with a CORS rule), reports the CRCs, and the application completes and verifies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from cos_multipart import crc64
from cos_multipart.testing import CorsRule, Fault, LocalCOS

from browser_app import AppThread, chromium
from presigned_helpers import data_of

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.both_dialects]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium()


def upload_in_page(browser: Any, app: AppThread, path: Path) -> dict[str, Any]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(app.origin + "/")
    browser.find_element(By.ID, "file").send_keys(str(path))
    browser.find_element(By.ID, "upload").click()
    status = browser.find_element(By.ID, "status")
    # A generous bound for a stuck page, not a measurement: the result is decided by the page's state.
    WebDriverWait(browser, 300).until(lambda _: status.get_attribute("data-state") in ("done", "error"))
    assert status.get_attribute("data-state") == "done", status.text
    return json.loads(status.text)  # type: ignore[no-any-return]


def test_page_uploads_parts_and_server_verifies(browser: Any, local_cos_factory: Callable[..., LocalCOS], dialect: str, tmp_path: Path) -> None:
    server = local_cos_factory(dialect=dialect)
    with server.client() as client:
        part = client.dialect.min_part_size
        data = data_of(part * 2 + part // 3)
        path = tmp_path / "holiday video.bin"
        path.write_bytes(data)
        with AppThread(server, part_size=part) as app:
            server.set_cors([CorsRule.for_uploads(app.origin)])
            done = upload_in_page(browser, app, path)
        # crc64_verified: the page's CRC-64 of each part, combined, is the object's (on COS nothing else knows them)
        assert done["crc64"] == str(crc64(data)) and done["crc64_verified"] is True
        assert done["size"] == len(data) and done["parts"] == 3
        assert client.get_object("uploads/holiday video.bin").read() == data
        assert server.log_entries("OptionsObject")  # the browser asked before its cross-origin PUTs
        assert len(server.log_entries("UploadPart")) == 3


def test_page_sends_a_damaged_part_again(browser: Any, local_cos_factory: Callable[..., LocalCOS], dialect: str, tmp_path: Path) -> None:
    """The second part arrives with a bit changed: the service's CRC-64 answer differs from the page's, so the page
    sends it again with a fresh URL; the object completed is the file."""
    server = local_cos_factory(dialect=dialect, faults=[Fault.corrupt("UploadPart", nth=2)])
    with server.client() as client:
        part = client.dialect.min_part_size
        data = data_of(part * 2 + 5, seed=11)
        path = tmp_path / "damaged.bin"
        path.write_bytes(data)
        with AppThread(server, part_size=part) as app:
            server.set_cors([CorsRule.for_uploads(app.origin)])
            done = upload_in_page(browser, app, path)
        assert done["crc64"] == str(crc64(data))
        assert client.get_object("uploads/damaged.bin").read() == data
        assert len(server.log_entries("UploadPart")) == 4  # the damaged part, sent again


def test_page_crc64_check_value(browser: Any, local_cos_factory: Callable[..., LocalCOS], tmp_path: Path) -> None:
    server = local_cos_factory()
    with AppThread(server, part_size=None) as app:
        browser.get(app.origin + "/")
        script = (
            "const done = arguments[arguments.length - 1];"
            "import('/static/crc64.js').then((m) => done([m.crc64(new TextEncoder().encode('123456789')),"
            " m.crc64(new Uint8Array(0)), m.crc64(new TextEncoder().encode('abc'))]));"
        )
        assert browser.execute_async_script(script) == ["11051210869376104954", "0", "3231342946509354535"]


def put_via_loopback(part: dict[str, Any], body: bytes) -> Any:
    """PUT a part to a URL on ``<bucket>.localhost`` (which Chromium resolves itself and this resolver does
    not): to 127.0.0.1, with that host as the ``Host`` header."""
    import requests
    from urllib.parse import urlsplit

    parts = urlsplit(part["url"])
    url = part["url"].replace(f"//{parts.netloc}", f"//127.0.0.1:{parts.port}", 1)
    return requests.put(url, data=body, headers={**part["headers"], "Host": parts.netloc}, timeout=30)


def test_app_answers_which_parts_are_wrong(local_cos_factory: Callable[..., LocalCOS], dialect: str) -> None:
    """The application's calls without a browser: a part never sent is named (409), sent later the upload
    completes; a bad size is refused before anything is made (400)."""
    import requests

    server = local_cos_factory(dialect=dialect)
    with server.client() as client, AppThread(server, part_size=client.dialect.min_part_size) as app:
        part = client.dialect.min_part_size
        data = data_of(part * 2)
        assert requests.post(app.origin + "/uploads", json={"name": "x", "size": -1}, timeout=30).json()["field"] == "size"
        started = requests.post(app.origin + "/uploads", json={"name": "two.bin", "size": len(data)}, timeout=30).json()
        first = started["parts"][0]
        put = put_via_loopback(first, data[:part])
        reports = [{"part": 1, "crc64": str(crc64(data[:part])), "etag": put.headers["ETag"]}]
        answer = requests.post(f"{app.origin}/uploads/{started['upload_id']}/complete", json={"parts": reports}, timeout=30)
        assert answer.status_code == 409 and answer.json()["problems"][0]["what"] == "missing"
        fresh = requests.post(f"{app.origin}/uploads/{started['upload_id']}/urls", json={"parts": [2]}, timeout=30).json()["parts"][0]
        put = put_via_loopback(fresh, data[part:])
        reports.append({"part": 2, "crc64": str(crc64(data[part:])), "etag": put.headers["ETag"]})
        done = requests.post(f"{app.origin}/uploads/{started['upload_id']}/complete", json={"parts": reports}, timeout=30)
        assert done.status_code == 200 and done.json()["crc64"] == str(crc64(data))
