"""Signature verification [ref 1.11]: every accepted client quirk and every rejection."""

from __future__ import annotations

from typing import Dict, Optional, Tuple
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

from cos_multipart._protocol.credentials import Credentials
from cos_multipart._protocol.signer import SignWindow, auth_fields, presign_url, sign, url_encode
from cos_multipart.testing.auth import AuthError, Keyring, ReceivedRequest, verify

DOC = Credentials("AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q", "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz")
STS = Credentials("AKIDtemporary", "temporary-secret", token="TOKEN123")
NOW = 1_700_000_100
WINDOW = SignWindow(1_700_000_000, 1_700_003_600)
HOST = "examplebucket-1250000000.cos.ap-beijing.myqcloud.com"
KEYRING = Keyring([DOC, STS])


def received(method: str, path: str, query: Tuple[Tuple[str, str], ...] = (),
             headers: Optional[Dict[str, str]] = None) -> ReceivedRequest:
    return ReceivedRequest(method, path, query, {k.lower(): v for k, v in (headers or {}).items()})


def signed(method: str, path: str, params: Dict[str, str], headers: Dict[str, str],
           credentials: Credentials = DOC, window: SignWindow = WINDOW,
           sent_headers: Optional[Dict[str, str]] = None) -> ReceivedRequest:
    """A request whose Authorization signs exactly ``params`` and ``headers`` (lowercase names)."""
    authorization = sign(credentials, window, method, path, params, headers)
    wire = dict(sent_headers if sent_headers is not None else headers)
    wire["authorization"] = authorization
    return received(method, path, tuple(params.items()), wire)


def rejected(request: ReceivedRequest, now: float = NOW, keyring: Keyring = KEYRING) -> AuthError:
    with pytest.raises(AuthError) as excinfo:
        verify(request, keyring, now)
    assert excinfo.value.status == 403
    return excinfo.value


def test_doc_vector_a_verifies() -> None:
    headers = {"content-length": "13", "content-md5": "mQ/fVh815F3k6TAUm8m0eg==", "content-type": "text/plain",
               "date": "Thu, 16 May 2019 06:45:51 GMT", "host": "examplebucket-1250000000.cos.ap-beijing.myqcloud.com",
               "x-cos-acl": "private", "x-cos-grant-read": 'uin="100000000011"'}
    authorization = ("q-sign-algorithm=sha1&q-ak=AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q&q-sign-time=1557989151;"
                     "1557996351&q-key-time=1557989151;1557996351&q-header-list=content-length;content-md5;"
                     "content-type;date;host;x-cos-acl;x-cos-grant-read&q-url-param-list=&q-signature="
                     "3b8851a11a569213c17ba8fa7dcf2abec6935172")
    request = received("PUT", "/exampleobject(腾讯云)", (), {**headers, "authorization": authorization})
    assert verify(request, KEYRING, 1557989200) == DOC


def test_upload_part_with_lowercased_param_list() -> None:
    params = {"partNumber": "1", "uploadId": "abc"}
    request = signed("PUT", "/a b/文件.txt", params, {"host": HOST, "content-length": "5"})
    assert "q-url-param-list=partnumber;uploadid" in request.headers["authorization"]
    assert verify(request, KEYRING, NOW) == DOC


def test_param_list_in_any_case_and_bare_uploads_param() -> None:
    request = signed("POST", "/k", {"uploads": ""}, {"host": HOST})
    upper = request.headers["authorization"].replace("q-url-param-list=uploads", "q-url-param-list=Uploads")
    assert verify(received("POST", "/k", (("uploads", ""),), {"host": HOST, "authorization": upper}), KEYRING, NOW)


def test_host_signed_without_port_is_accepted() -> None:
    request = signed("GET", "/k", {}, {"host": "127.0.0.1"}, sent_headers={"host": "127.0.0.1:9000"})
    assert verify(request, KEYRING, NOW) == DOC
    request = signed("GET", "/k", {}, {"host": "127.0.0.1:9000"})
    assert verify(request, KEYRING, NOW) == DOC


def test_unlisted_params_and_headers_are_ignored() -> None:
    request = signed("GET", "/k", {"uploadId": "u"}, {"host": HOST})
    noisy = received("GET", "/k", request.query + (("x-extra", "1"),), {**request.headers, "user-agent": "x"})
    assert verify(noisy, KEYRING, NOW) == DOC


def test_key_time_and_sign_time_may_differ() -> None:
    # SignKey from q-key-time, StringToSign from q-sign-time [ref 1.1, the Go reading].
    from cos_multipart._protocol.signer import sign_key, string_to_sign
    import hashlib
    import hmac

    key_window, sign_window = SignWindow(1_700_000_000, 1_700_009_999), WINDOW
    http = f"get\n/k\n\nhost={url_encode(HOST)}\n"
    signature = hmac.new(sign_key(DOC.secret_key, key_window).encode(), string_to_sign(sign_window, http).encode(),
                         hashlib.sha1).hexdigest()
    authorization = (f"q-sign-algorithm=sha1&q-ak={DOC.secret_id}&q-sign-time={sign_window.key_time}"
                     f"&q-key-time={key_window.key_time}&q-header-list=host&q-url-param-list=&q-signature={signature}")
    assert verify(received("GET", "/k", (), {"host": HOST, "authorization": authorization}), KEYRING, NOW) == DOC


def test_presigned_query_verifies_with_signed_token() -> None:
    url = presign_url(STS, f"http://{HOST}/{quote('a b')}?uploadId=u", method="GET", window=WINDOW)
    parts = urlsplit(url)
    query = tuple(parse_qsl(parts.query, keep_blank_values=True))
    assert verify(received("GET", "/a b", query, {"host": HOST}), KEYRING, NOW) == STS


def test_presigned_query_with_unsigned_token_is_accepted() -> None:
    fields = auth_fields(STS, WINDOW, "GET", "/k", {}, {"host": HOST})
    query = tuple(fields) + (("x-cos-security-token", "TOKEN123"),)
    assert verify(received("GET", "/k", query, {"host": HOST}), KEYRING, NOW) == STS


def test_merged_sign_parameter() -> None:
    authorization = sign(DOC, WINDOW, "GET", "/k", {}, {"host": HOST})
    query = (("sign", authorization),)
    assert verify(received("GET", "/k", query, {"host": HOST}), KEYRING, NOW) == DOC


def test_token_in_header_signed() -> None:
    request = signed("GET", "/k", {}, {"host": HOST, "x-cos-security-token": "TOKEN123"}, credentials=STS)
    assert verify(request, KEYRING, NOW) == STS


def test_temporary_key_without_or_with_wrong_token() -> None:
    missing = signed("GET", "/k", {}, {"host": HOST}, credentials=STS)
    assert rejected(missing).code == "InvalidAccessKeyId"
    wrong = signed("GET", "/k", {}, {"host": HOST, "x-cos-security-token": "OTHER"}, credentials=STS)
    error = rejected(wrong)
    assert error.code == "InvalidAccessKeyId" and "OTHER" not in str(error) and "TOKEN123" not in str(error)


def test_no_signature_is_access_denied() -> None:
    assert rejected(received("GET", "/k", (), {"host": HOST})).code == "AccessDenied"


def test_unknown_secret_id() -> None:
    stranger = Credentials("AKIDstranger", DOC.secret_key)
    assert rejected(signed("GET", "/k", {}, {"host": HOST}, credentials=stranger)).code == "InvalidAccessKeyId"


def test_wrong_secret_key() -> None:
    forged = Credentials(DOC.secret_id, "not-the-secret")
    error = rejected(signed("GET", "/k", {}, {"host": HOST}, credentials=forged))
    assert error.code == "SignatureDoesNotMatch" and "not-the-secret" not in str(error)


def test_expired_window_says_request_has_expired() -> None:
    error = rejected(signed("GET", "/k", {}, {"host": HOST}), now=WINDOW.end + 1)
    assert (error.code, error.message) == ("AccessDenied", "Request has expired")
    assert verify(signed("GET", "/k", {}, {"host": HOST}), KEYRING, WINDOW.end) == DOC


def test_window_far_in_the_future_is_time_too_skewed() -> None:
    future = SignWindow(NOW + 16 * 60, NOW + 7200)
    assert rejected(signed("GET", "/k", {}, {"host": HOST}, window=future)).code == "RequestTimeTooSkewed"
    near = SignWindow(NOW + 60, NOW + 7200)  # a clock a minute ahead is tolerated
    assert verify(signed("GET", "/k", {}, {"host": HOST}, window=near), KEYRING, NOW) == DOC


@pytest.mark.parametrize(
    "tamper",
    [
        lambda r: ReceivedRequest(r.method, "/other", r.query, r.headers),
        lambda r: ReceivedRequest("DELETE", r.path, r.query, r.headers),
        lambda r: ReceivedRequest(r.method, r.path, (("partNumber", "2"), ("uploadId", "u")), r.headers),
        lambda r: ReceivedRequest(r.method, r.path, r.query, {**r.headers, "content-md5": "changed=="}),
        lambda r: ReceivedRequest(r.method, r.path, r.query, {**r.headers, "host": "evil.example.com"}),
        lambda r: ReceivedRequest(r.method, r.path, (("uploadId", "u"),), r.headers),
        lambda r: ReceivedRequest(r.method, r.path, r.query,
                                  {k: v for k, v in r.headers.items() if k != "content-md5"}),
    ],
    ids=["path", "method", "param", "header", "host", "listed-param-missing", "listed-header-missing"],
)
def test_tampered_requests_do_not_match(tamper) -> None:  # type: ignore[no-untyped-def]
    original = signed("PUT", "/k", {"partNumber": "1", "uploadId": "u"},
                      {"host": HOST, "content-md5": "1B2M2Y8AsgTpgAmY7PhCfg=="})
    assert verify(original, KEYRING, NOW) == DOC
    assert rejected(tamper(original)).code == "SignatureDoesNotMatch"


@pytest.mark.parametrize(
    "replace",
    [("q-sign-algorithm=sha1", "q-sign-algorithm=md5"), ("q-sign-time=1700000000;1700003600", "q-sign-time=x"),
     ("q-key-time=1700000000;1700003600", "q-key-time=5;1"), ("&q-signature=", "&q-sig=")],
)
def test_malformed_authorization_is_access_denied(replace: Tuple[str, str]) -> None:
    request = signed("GET", "/k", {}, {"host": HOST})
    broken = request.headers["authorization"].replace(*replace)
    assert broken != request.headers["authorization"]
    assert rejected(received("GET", "/k", (), {"host": HOST, "authorization": broken})).code == "AccessDenied"


def test_utf8_header_values_sent_as_bytes() -> None:
    # requests sends bytes values as-is; http.client hands them over decoded as latin-1.
    value = "Grüße"
    request = signed("PUT", "/k", {}, {"host": HOST, "x-cos-meta-note": value},
                     sent_headers={"host": HOST, "x-cos-meta-note": value.encode("utf-8").decode("latin-1")})
    assert verify(request, KEYRING, NOW) == DOC


def test_keyring_repr_shows_no_secret() -> None:
    assert DOC.secret_key not in repr(KEYRING) and "TOKEN123" not in repr(KEYRING)
