"""The server's own COS signature rules against the documented vectors, and client mistakes it catches.

``cos_multipart.testing.auth`` is written from the reference (cos-api.md section 1), not from the client's
signer. These tests hold it to the numbers Tencent documents (vectors A, B and C of section 1.10), then sign
requests with a deliberately wrong rule, the kind of mistake a client makes, and check that the server
refuses each with the error COS answers: a wrong rule in the client is caught, not confirmed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Callable, Dict, List, Optional, Tuple
from urllib.parse import quote, quote_plus

import pytest
import requests

from cos_multipart._protocol.credentials import Credentials
from cos_multipart.testing import LocalCOS
from cos_multipart.testing.pytest_plugin import LocalCOSFactory
from cos_multipart.testing.auth import (
    AuthError,
    Keyring,
    ReceivedRequest,
    canonical,
    http_string,
    sign_key,
    signature,
    string_to_sign,
    url_encode,
    verify,
)

DOC = Credentials("AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q", "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz")
KEYRING = Keyring([DOC])

# --- vector A: PUT with seven signed headers [ref 1.6] -------------------------------------------------

A_KEY_TIME = "1557989151;1557996351"
A_HEADERS = {
    "content-length": "13",
    "content-md5": "mQ/fVh815F3k6TAUm8m0eg==",
    "content-type": "text/plain",
    "date": "Thu, 16 May 2019 06:45:51 GMT",
    "host": "examplebucket-1250000000.cos.ap-beijing.myqcloud.com",
    "x-cos-acl": "private",
    "x-cos-grant-read": 'uin="100000000011"',
}
A_HEADER_STRING = (
    "content-length=13&content-md5=mQ%2FfVh815F3k6TAUm8m0eg%3D%3D&content-type=text%2Fplain&date=Thu%2C%2016%20May"
    "%202019%2006%3A45%3A51%20GMT&host=examplebucket-1250000000.cos.ap-beijing.myqcloud.com&x-cos-acl=private"
    "&x-cos-grant-read=uin%3D%22100000000011%22"
)
A_PATH = "/exampleobject(腾讯云)"
A_SIGNATURE = "3b8851a11a569213c17ba8fa7dcf2abec6935172"

# --- vector B: GET with two signed parameters [ref 1.6] -------------------------------------------------

B_KEY_TIME = "1557989753;1557996953"
B_PARAMS = {"response-content-type": "application/octet-stream", "response-cache-control": "max-age=600"}
B_HEADERS = {"date": "Thu, 16 May 2019 06:55:53 GMT", "host": "examplebucket-1250000000.cos.ap-beijing.myqcloud.com"}
B_SIGNATURE = "01681b8c9d798a678e43b685a9f1bba0f6c0e012"


def authorization(key_time: str, header_list: str, param_list: str, sig: str, sign_time: Optional[str] = None) -> str:
    return (
        f"q-sign-algorithm=sha1&q-ak={DOC.secret_id}&q-sign-time={sign_time or key_time}&q-key-time={key_time}"
        f"&q-header-list={header_list}&q-url-param-list={param_list}&q-signature={sig}"
    )


def test_url_encode_follows_the_documented_table() -> None:
    # "Leave unencoded only A-Z a-z 0-9 - _ . ~; every other byte %XX with upper-case hex" [ref 1.2]
    must = " !\"#$%&'()*+,/:;<=>?@[\\]^{|}`"
    assert url_encode(must) == "".join(f"%{ord(char):02X}" for char in must)
    assert url_encode("AZaz09-_.~") == "AZaz09-_.~"
    assert url_encode("a b/c*~") == "a%20b%2Fc%2A~"
    assert url_encode("腾讯云") == "%E8%85%BE%E8%AE%AF%E4%BA%91"


def test_vector_a_every_intermediate_value() -> None:
    assert sign_key(DOC.secret_key, A_KEY_TIME) == "eb2519b498b02ac213cb1f3d1a3d27a3b3c9bc5f"
    header_list, header_string = canonical(A_HEADERS.items())
    assert header_list == "content-length;content-md5;content-type;date;host;x-cos-acl;x-cos-grant-read"
    assert header_string == A_HEADER_STRING
    http = http_string("PUT", A_PATH, [], A_HEADERS.items())
    assert http == f"put\n{A_PATH}\n\n{A_HEADER_STRING}\n"
    assert hashlib.sha1(http.encode()).hexdigest() == "8b2751e77f43a0995d6e9eb9477f4b685cca4172"
    assert string_to_sign(A_KEY_TIME, http) == f"sha1\n{A_KEY_TIME}\n8b2751e77f43a0995d6e9eb9477f4b685cca4172\n"
    assert signature(DOC.secret_key, A_KEY_TIME, A_KEY_TIME, http) == A_SIGNATURE


def test_vector_a_verifies_and_the_header_list_order_does_not_matter() -> None:
    listed = "content-length;content-md5;content-type;date;host;x-cos-acl;x-cos-grant-read"
    request = ReceivedRequest("PUT", A_PATH, (), {**A_HEADERS, "authorization": authorization(A_KEY_TIME, listed, "", A_SIGNATURE)})
    assert verify(request, KEYRING, 1557989200) == DOC
    shuffled = "host;date;x-cos-grant-read;content-md5;x-cos-acl;content-type;content-length"
    request = ReceivedRequest("PUT", A_PATH, (), {**A_HEADERS, "authorization": authorization(A_KEY_TIME, shuffled, "", A_SIGNATURE)})
    assert verify(request, KEYRING, 1557989200) == DOC  # the server sorts, as the reference says


def test_vector_b_with_parameters() -> None:
    assert sign_key(DOC.secret_key, B_KEY_TIME) == "937914bf490e9e8c189836aad2052e4feeb35eaf"
    assert canonical(B_PARAMS.items()) == (
        "response-cache-control;response-content-type",
        "response-cache-control=max-age%3D600&response-content-type=application%2Foctet-stream",
    )
    http = http_string("GET", A_PATH, B_PARAMS.items(), B_HEADERS.items())
    assert hashlib.sha1(http.encode()).hexdigest() == "54ecfe22f59d3514fdc764b87a32d8133ea611e6"
    assert signature(DOC.secret_key, B_KEY_TIME, B_KEY_TIME, http) == B_SIGNATURE
    auth = authorization(B_KEY_TIME, "date;host", "response-cache-control;response-content-type", B_SIGNATURE)
    request = ReceivedRequest("GET", A_PATH, tuple(B_PARAMS.items()), {**B_HEADERS, "authorization": auth})
    assert verify(request, KEYRING, 1557989800) == DOC


def test_vector_c_legacy_page() -> None:
    http = "get\n/testfile\n\nhost=bucket1-1254000000.cos.ap-beijing.myqcloud.com&range=bytes%3D0-3\n"
    headers = {"host": "bucket1-1254000000.cos.ap-beijing.myqcloud.com", "range": "bytes=0-3"}
    assert http_string("GET", "/testfile", [], headers.items()) == http
    assert signature(DOC.secret_key, "1417773892;1417853898", "1417773892;1417853898", http) == (
        "4b6cbab14ce01381c29032423481ebffd514e8be"
    )


# --- client mistakes, as pure values ----------------------------------------------------------------------

WINDOW = "1700000000;1700003600"
NOW = 1_700_000_100
HOST = "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com"


def _hmac_hex(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha1).hexdigest()


def faulty_sign(
    method: str,
    path: str,
    params: Dict[str, str],
    headers: Dict[str, str],
    *,
    window: str = WINDOW,
    encode: Callable[[str], str] = lambda text: quote(text, safe="-_.~"),
    listed_headers: Optional[List[str]] = None,
    sort: bool = True,
    signed_key_time: Optional[str] = None,
    raw_sign_key: bool = False,
) -> str:
    """An Authorization made by a small signer of the test's own; every keyword but ``window`` is a mistake
    to make (the defaults make none)."""

    def pairs(items: Dict[str, str]) -> List[Tuple[str, str]]:
        encoded = [(encode(name).lower(), encode(value)) for name, value in items.items()]
        return sorted(encoded) if sort else encoded

    param_pairs, header_pairs = pairs(params), pairs(headers)
    http = "\n".join([method.lower(), path, "&".join(f"{n}={v}" for n, v in param_pairs),
                      "&".join(f"{n}={v}" for n, v in header_pairs)]) + "\n"  # fmt: skip
    key = hmac.new(DOC.secret_key.encode(), (signed_key_time or window).encode(), hashlib.sha1)
    sign_key_bytes = key.digest() if raw_sign_key else key.hexdigest().encode()
    to_sign = f"sha1\n{window}\n{hashlib.sha1(http.encode()).hexdigest()}\n"
    header_list = listed_headers if listed_headers is not None else [n for n, _ in header_pairs]
    return authorization(window, ";".join(header_list), ";".join(n for n, _ in param_pairs),
                         _hmac_hex(sign_key_bytes, to_sign))  # fmt: skip


def _lower_escapes(text: str) -> str:
    return re.sub("%[0-9A-F]{2}", lambda match: match.group().lower(), quote(text, safe="-_.~"))


def received(method: str, path: str, params: Dict[str, str], headers: Dict[str, str], auth: str) -> ReceivedRequest:
    return ReceivedRequest(method, path, tuple(params.items()), {**headers, "authorization": auth})


def test_the_faulty_signer_without_a_mistake_is_accepted() -> None:
    params, headers = {"partNumber": "1", "uploadId": "u"}, {"host": HOST, "content-md5": "x/y+z=="}
    request = received("PUT", "/dir/a b.txt", params, headers, faulty_sign("PUT", "/dir/a b.txt", params, headers))
    assert verify(request, KEYRING, NOW) == DOC


MISTAKES: Dict[str, Tuple[str, Dict[str, object]]] = {
    # a header signed but left out of q-header-list: the server rebuilds without it
    "header left out of the list": ("/k", {"listed_headers": ["host"]}),
    # the key's space written "+" (form encoding) in the path, and in a value
    "path encoded instead of decoded": ("/dir/a%20b.txt", {}),
    "space encoded as +": ("/dir/a b.txt", {"encode": lambda text: quote_plus(text, safe="-_.~")}),
    # lower-case hex in the escapes of values
    "lower-case escapes": ("/dir/a b.txt", {"encode": _lower_escapes}),
    # SignKey derived from another KeyTime than the one sent in q-key-time
    "wrong key time": ("/k", {"signed_key_time": "1700000000;1700007200"}),
    # SignKey used as raw HMAC bytes instead of its 40-character hex text
    "sign key as raw bytes": ("/k", {"raw_sign_key": True}),
    # headers signed in the order given, not sorted
    "unsorted pairs": ("/k", {"sort": False}),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_a_request_signed_with_a_wrong_rule_is_refused(mistake: str) -> None:
    path, options = MISTAKES[mistake]
    params = {"uploadId": "u", "partNumber": "1", "prefix": "a b/"}
    headers = {"host": HOST, "x-cos-meta-note": "x y", "content-md5": "x/y+z=="}
    auth = faulty_sign("PUT", path, params, headers, **options)  # type: ignore[arg-type]
    with pytest.raises(AuthError) as excinfo:
        verify(received("PUT", "/dir/a b.txt" if path != "/k" else "/k", params, headers, auth), KEYRING, NOW)
    assert (excinfo.value.status, excinfo.value.code) == (403, "SignatureDoesNotMatch")


# --- over HTTP -------------------------------------------------------------------------------------------


def _send(cos: LocalCOS, key: str, auth_for: Callable[[Dict[str, str]], str], data: bytes = b"hello") -> requests.Response:
    url = f"{cos.endpoint}/{quote(key)}"
    host = url.split("/")[2]
    headers = {"host": host, "content-length": str(len(data)), "x-cos-meta-note": "made by hand"}
    sent = {"Authorization": auth_for(headers), "x-cos-meta-note": headers["x-cos-meta-note"]}
    return requests.put(url, data=data, headers=sent, timeout=30)


def _http_sign(cos: LocalCOS, key: str, headers: Dict[str, str], **options: object) -> str:
    start = int(cos.clock()) - 60
    return faulty_sign("PUT", f"/{key}", {}, headers, window=f"{start};{start + 3600}", **options)  # type: ignore[arg-type]


@pytest.fixture
def doc_keyed(local_cos_factory: LocalCOSFactory) -> LocalCOS:
    return local_cos_factory(credentials=DOC)


def test_over_http_a_correct_hand_signature_is_accepted(doc_keyed: LocalCOS) -> None:
    response = _send(doc_keyed, "a b.txt", lambda headers: _http_sign(doc_keyed, "a b.txt", headers))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "mistake, options",
    [
        ("header left out of the list", {"listed_headers": ["content-length", "host"]}),
        ("wrong key time", {"signed_key_time": "1;2"}),
        ("space encoded as +", {"encode": lambda text: quote_plus(text, safe="-_.~")}),
    ],
)
def test_over_http_a_wrong_rule_is_answered_signature_does_not_match(
    doc_keyed: LocalCOS, mistake: str, options: Dict[str, object]
) -> None:
    response = _send(doc_keyed, "a b.txt", lambda headers: _http_sign(doc_keyed, "a b.txt", headers, **options))
    assert response.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in response.text
    assert doc_keyed.log_entries("PutObject")[-1].code == "SignatureDoesNotMatch"


@pytest.mark.parametrize("key_time", ["1700000000", "1700003600;1700000000", "17²;1800000000", "a;b", ";"])
def test_a_malformed_key_time_is_access_denied(key_time: str) -> None:
    auth = faulty_sign("GET", "/k", {}, {"host": HOST}).replace(f"q-key-time={WINDOW}", f"q-key-time={key_time}")
    with pytest.raises(AuthError) as excinfo:
        verify(received("GET", "/k", {}, {"host": HOST}, auth), KEYRING, NOW)
    assert (excinfo.value.status, excinfo.value.code) == (403, "AccessDenied")
