"""Plain ``requests`` against an anonymous local server of either dialect (signatures are tested elsewhere;
these tests are about what the server answers)."""

from __future__ import annotations

from typing import Any, Dict, Optional
from urllib.parse import quote

import requests
from lxml import etree

from cos_multipart.testing import LocalCOS


def send(
    server: LocalCOS,
    method: str,
    key: str,
    *,
    headers: Optional[Dict[str, str]] = None,
    params: Any = None,
    data: bytes = b"",
    bucket: Optional[str] = None,
) -> requests.Response:
    """``method`` on ``key`` of ``bucket`` (the default bucket when ``None``), named the dialect's way."""
    name = bucket or server.bucket
    sent = dict(headers or {})
    if server.dialect == "oss":
        url = f"{server.endpoint}/{name}/{quote(key, safe='/')}"
    else:
        url = f"{server.endpoint}/{quote(key, safe='/')}"
        sent["Host"] = f"{name}.cos.{server.region}.myqcloud.com"
    return requests.request(method, url, headers=sent, params=params, data=data, timeout=30)


def put(server: LocalCOS, key: str, data: bytes, headers: Optional[Dict[str, str]] = None, bucket: Optional[str] = None) -> requests.Response:
    response = send(server, "PUT", key, headers=headers, data=data, bucket=bucket)
    assert response.status_code == 200, response.text
    return response


def header(server: LocalCOS, name: str) -> str:
    """The dialect's spelling of internal header ``name`` (``x-cos-...`` -> ``x-oss-...``)."""
    return name.replace("x-cos-", "x-oss-") if server.dialect == "oss" else name


def fields(body: bytes) -> Dict[str, str]:
    """Child element name -> text of an XML document's root."""
    return {etree.QName(child).localname: child.text or "" for child in etree.fromstring(body)}
