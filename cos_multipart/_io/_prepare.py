"""One request prepared for ``requests`` without the per-request work a session does for features unused here.

``Session.prepare_request`` merges the session's cookies (two new jars per request), params, auth and hooks,
and parses the URL again (which the transport then replaces with its own): ~180 us of Python per request,
more than the signature. The transport keeps no cookies, params, auth or hooks on its session, so
:func:`prepare` builds the same :class:`requests.PreparedRequest` (method, URL, headers checked by requests'
own rules, body and ``Content-Length``) in ~20 us; if a session ever carries one of those, the session's own
path is taken. ``tests/test_prepare.py`` checks that both give the same request.
"""

from __future__ import annotations

from typing import Any, Mapping

import requests
from requests.cookies import RequestsCookieJar
from requests.hooks import default_hooks
from requests.structures import CaseInsensitiveDict

__all__ = ["prepare"]


def prepare(session: requests.Session, method: str, url: str, headers: Mapping[str, str], data: Any) -> requests.PreparedRequest:
    """The request ``session.prepare_request`` would prepare, with ``url`` exactly as given (not re-quoted)."""
    if session.cookies or session.auth or session.params or any(session.hooks.values()):
        prepared = session.prepare_request(requests.Request(method, url, headers=dict(headers), data=data))
    else:
        prepared = requests.PreparedRequest()
        prepared.prepare_method(method)
        merged: CaseInsensitiveDict[Any] = CaseInsensitiveDict(session.headers)
        merged.update(headers)  # the request's own headers win, whatever their case (as merge_setting does)
        prepared.prepare_headers({name: value for name, value in merged.items() if value is not None})
        prepared._cookies = RequestsCookieJar()  # type: ignore[attr-defined]  # a redirect takes its cookies here
        prepared.prepare_body(data, None)
        prepared.hooks = default_hooks()
    # requests re-quotes URLs (it would turn an encoded "." segment back into a dot segment).
    prepared.url = url
    return prepared
