"""``CosAuth``: the pure signer (:mod:`cos_multipart._protocol.signer`) as a ``requests`` auth adapter.

It sits beside the transport, the other module that imports ``requests``, so the signer stays free of any
HTTP library (an asyncio transport uses the same signer with its own adapter).
"""

from __future__ import annotations

import time
from typing import Callable
from urllib.parse import parse_qsl, unquote, urlsplit

import requests

from .._protocol.credentials import CredentialsLike, as_provider
from .._protocol.limits import DEFAULT_SIGN_EXPIRES
from .._protocol.signer import SECURITY_TOKEN_HEADER, SignWindow, host_header, select_headers, sign


class CosAuth(requests.auth.AuthBase):
    """Sign any ``requests`` call for COS: ``requests.put(url, data=..., auth=CosAuth(creds))``.

    The decoded URL path, every query parameter, the host and the headers of
    :data:`SIGNED_STANDARD_HEADERS` plus ``x-cos-*`` are signed; the STS token is added as a header.

    Args:
        credentials: :class:`Credentials`, a provider callable, or ``None`` for the environment.
        expires: Seconds the signature stays valid.
        clock: Returns the current Unix time; pass one with an offset to correct a skewed clock.
    """

    def __init__(
        self,
        credentials: CredentialsLike = None,
        *,
        expires: int = DEFAULT_SIGN_EXPIRES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._provider = as_provider(credentials)
        self._expires = expires
        self._clock = clock

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        credentials = self._provider()
        if credentials.token:
            request.headers[SECURITY_TOKEN_HEADER] = credentials.token
        url = request.url or ""
        parts = urlsplit(url)
        headers = select_headers(request.headers)
        headers.setdefault("host", host_header(url))
        request.headers["Authorization"] = sign(
            credentials,
            SignWindow.around(self._clock(), self._expires),
            request.method or "GET",
            unquote(parts.path) or "/",
            dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers,
        )
        return request

    def __repr__(self) -> str:
        return f"CosAuth(expires={self._expires})"
