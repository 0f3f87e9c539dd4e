"""The local server's CORS, as COS and OSS answer a bucket with CORS rules: the browser's preflight (OPTIONS)
and the CORS headers of the actual answers, rules given to LocalCOS or set with PUT Bucket cors."""

from __future__ import annotations

from typing import Callable, Dict

import pytest
import requests

from cos_multipart import CosAuth
from cos_multipart.testing import CorsRule, LocalCOS
from cos_multipart.testing._cors import CorsTable, parse_rules
from cos_multipart.testing.protocol import ServiceError

pytestmark = [pytest.mark.integration]

PAGE = "http://app.example.com:8080"
PREFLIGHT = {"Origin": PAGE, "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-md5"}


def options(server: LocalCOS, headers: Dict[str, str], key: str = "a/b.bin") -> requests.Response:
    return requests.options(server.url(key) + "?partNumber=1&uploadId=x", headers=headers, timeout=10)


@pytest.mark.both_dialects
def test_preflight_refused_without_rules(local_cos_factory: Callable[..., LocalCOS], dialect: str) -> None:
    server = local_cos_factory(dialect=dialect)
    answer = options(server, PREFLIGHT)
    assert answer.status_code == 403 and "AccessForbidden" in answer.text
    assert "Access-Control-Allow-Origin" not in answer.headers


@pytest.mark.both_dialects
def test_preflight_and_actual_answers_with_a_rule(local_cos_factory: Callable[..., LocalCOS], dialect: str) -> None:
    server = local_cos_factory(dialect=dialect, cors=[CorsRule.for_uploads(PAGE)])
    answer = options(server, PREFLIGHT)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Access-Control-Allow-Origin"] == PAGE
    assert "PUT" in answer.headers["Access-Control-Allow-Methods"]
    assert answer.headers["Access-Control-Allow-Headers"] == "content-md5"
    assert answer.headers["Access-Control-Max-Age"] == "600"
    assert options(server, {**PREFLIGHT, "Origin": "http://evil.example"}).status_code == 403
    assert options(server, {**PREFLIGHT, "Access-Control-Request-Method": "DELETE"}).status_code == 403
    assert options(server, {"Origin": PAGE}).status_code == 400
    # the actual answer: a presigned PUT from the page, its ETag and CRC-64 readable
    with server.client() as client:
        upload = client.initiate_multipart_upload("a/b.bin")
        url, headers = client.presign_part("a/b.bin", upload.upload_id, 1, expires=60)
    put = requests.put(url, data=b"hello", headers={**headers, "Origin": PAGE}, timeout=10)
    assert put.status_code == 200
    exposed = put.headers["Access-Control-Expose-Headers"]
    assert "ETag" in exposed and f"x-{dialect}-hash-crc64ecma" in exposed
    assert put.headers["Access-Control-Allow-Origin"] == PAGE and put.headers["Vary"] == "Origin"
    # an error answer carries them too (the page reads the 403 of an expired or forged URL)
    forged = requests.put(url.replace("partNumber=1", "partNumber=2"), data=b"x", headers={**headers, "Origin": PAGE}, timeout=10)
    assert forged.status_code == 403 and forged.headers["Access-Control-Allow-Origin"] == PAGE
    # another origin gets no CORS headers
    other = requests.head(server.url("a/b.bin"), headers={"Origin": "http://evil.example"}, timeout=10)
    assert "Access-Control-Allow-Origin" not in other.headers


def test_put_and_delete_bucket_cors(local_cos_factory: Callable[..., LocalCOS]) -> None:
    server = local_cos_factory()
    body = (
        b"<CORSConfiguration><CORSRule><AllowedOrigin>http://*.example.com:8080</AllowedOrigin>"
        b"<AllowedMethod>PUT</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader>"
        b"<MaxAgeSeconds>5</MaxAgeSeconds></CORSRule></CORSConfiguration>"
    )
    host = {"Host": f"{server.bucket}.cos.{server.region}.myqcloud.com"}
    unsigned = requests.put(server.endpoint + "/?cors", data=body, headers=host, timeout=10)
    assert unsigned.status_code == 403
    answer = requests.put(server.endpoint + "/?cors", data=body, headers=host, auth=CosAuth(server.credentials), timeout=10)
    assert answer.status_code == 200, answer.text
    assert options(server, PREFLIGHT).status_code == 200
    assert options(server, {**PREFLIGHT, "Origin": "http://other.org"}).status_code == 403
    gone = requests.delete(server.endpoint + "/?cors", headers=host, auth=CosAuth(server.credentials), timeout=10)
    assert gone.status_code == 204
    assert options(server, PREFLIGHT).status_code == 403
    bad = requests.put(server.endpoint + "/?cors", data=b"<x/>", headers=host, auth=CosAuth(server.credentials), timeout=10)
    assert bad.status_code == 400 and "MalformedXML" in bad.text


def test_rules_and_table_pure() -> None:
    rule = CorsRule(allowed_origins=("https://*.site.org",), allowed_methods=("put",), allowed_headers=("x-cos-*", "Content-MD5"))
    assert rule.allows("https://a.site.org", "PUT", ["x-cos-meta-a", "content-md5"])
    assert not rule.allows("https://a.site.org", "PUT", ["authorization"])
    assert not rule.allows("http://a.site.org", "PUT")
    table = CorsTable([rule])
    table.set("b-1", [CorsRule.for_uploads()])
    assert table.rules("b-1") != table.rules("b-2") == (rule,)
    table.set("b-1", [])
    assert table.rules("b-1") == (rule,)
    with pytest.raises(ServiceError):
        CorsRule(allowed_origins=("*",), allowed_methods=("TRACE",))
    with pytest.raises(ServiceError):
        parse_rules(b"<CORSConfiguration/>")
