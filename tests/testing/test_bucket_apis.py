"""The local server's List Objects and Delete Multiple Objects: page selection as values, then over sockets."""

from __future__ import annotations

from pathlib import Path

import base64
import collections
import hashlib

import pytest
import requests

from cos_multipart.testing import LocalCOS
from cos_multipart.testing.bucket_protocol import delete_result_xml, list_objects_page, parse_delete_body
from cos_multipart.testing.protocol import ServiceError

KEYS = sorted(["a/1", "a/2", "a/b/3", "a/b/4", "a/c/5", "b", "c/6"])


def test_page_selection_rolls_up_and_counts_prefixes_once() -> None:
    page = list_objects_page(KEYS, prefix="a/", delimiter="/", marker="", max_keys=3)
    assert page.keys == ("a/1", "a/2") and page.common_prefixes == ("a/b/",)
    assert page.truncated and page.next_marker == "a/b/"
    rest = list_objects_page(KEYS, prefix="a/", delimiter="/", marker=page.next_marker, max_keys=3)
    assert rest.keys == () and rest.common_prefixes == ("a/c/",) and not rest.truncated and rest.next_marker == ""


def test_page_selection_without_delimiter_and_past_the_end() -> None:
    assert list_objects_page(KEYS, prefix="", delimiter="", marker="a/b/4", max_keys=10).keys == ("a/c/5", "b", "c/6")
    assert list_objects_page(KEYS, prefix="z", delimiter="", marker="", max_keys=10).keys == ()


def test_delete_body_rules() -> None:
    assert parse_delete_body(b"<Delete><Quiet>true</Quiet><Object><Key>k</Key></Object></Delete>") == (True, ["k"])
    too_many = b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1001 + b"</Delete>"
    for bad in (b"<Delete/>", b"<Remove><Object><Key>k</Key></Object></Remove>", b"not xml", too_many):
        with pytest.raises(ServiceError) as excinfo:
            parse_delete_body(bad)
        assert excinfo.value.code == "MalformedXML"
    assert b"<Deleted>" not in delete_result_xml(["k"], [], quiet=True)


def _post_delete(cos: LocalCOS, body: bytes, *, md5: bool = True) -> requests.Response:
    headers = {"Content-Type": "application/xml"}
    if md5:
        headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
    return requests.post(f"{cos.endpoint}/?delete", data=body, headers=headers, timeout=10)


def test_over_http_listing_and_batch_delete() -> None:
    with LocalCOS(anonymous=True) as cos, cos.client() as client:
        for key in KEYS + ["文 件+%"]:
            client.put_object(key, key.encode())
        answer = requests.get(f"{cos.endpoint}/", params={"prefix": "a/", "delimiter": "/", "max-keys": "5000"}, timeout=10)
        assert answer.status_code == 200 and b"<MaxKeys>1000</MaxKeys>" in answer.content
        assert answer.content.count(b"<Contents>") == 2 and b"<Prefix>a/b/</Prefix>" in answer.content
        encoded = requests.get(f"{cos.endpoint}/", params={"encoding-type": "url", "prefix": "文"}, timeout=10)
        assert b"%E6%96%87%20%E4%BB%B6%2B%25" in encoded.content
        assert requests.get(f"{cos.endpoint}/?acl", timeout=10).status_code == 501
        body = b"<Delete><Object><Key>b</Key></Object><Object><Key>missing</Key></Object></Delete>"
        assert _post_delete(cos, body, md5=False).status_code == 400
        done = _post_delete(cos, body)
        assert done.status_code == 200 and done.content.count(b"<Deleted>") == 2
        assert [o.key for o in client.list_objects()] == ["a/1", "a/2", "a/b/3", "a/b/4", "a/c/5", "c/6", "文 件+%"]
        # Each entry is written after its answer is sent, so a request's entry may land after the next one's:
        # the log is compared as a multiset (what was served, under which API name), not in order.
        served = collections.Counter(e.api for e in cos.log_entries())
        assert served["DeleteMultipleObjects"] == 2 and served["ListObjects"] == 3 and served["PutObject"] == len(KEYS) + 1


def test_listing_survives_a_restart_and_sees_later_writes(tmp_path: Path) -> None:
    with LocalCOS(data_dir=tmp_path) as cos, cos.client() as client:
        client.put_object("old", b"1")
    with LocalCOS(data_dir=tmp_path) as cos, cos.client() as client:
        assert [o.key for o in client.list_objects()] == ["old"]
        client.put_object("new", b"2")
        client.delete_object("old")
        assert [(o.key, o.size) for o in client.list_objects()] == [("new", 1)]
