"""Credentials: static, temporary (STS, with a security token), from the environment, or from a provider.

A :class:`Credentials` value never shows its secret key or token in ``repr``/``str``. A provider is any
callable returning :class:`Credentials`; it is called once for every request signed, so a provider of
temporary credentials can hand out fresh ones before the old ones expire (see :class:`RefreshingCredentials`).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Tuple, Union

from .errors import CosCredentialsError

#: Environment variables read by :meth:`Credentials.from_env`, in order of preference.
ENV_SECRET_ID = ("COS_SECRET_ID", "TENCENTCLOUD_SECRET_ID")
ENV_SECRET_KEY = ("COS_SECRET_KEY", "TENCENTCLOUD_SECRET_KEY")
ENV_SECURITY_TOKEN = ("COS_SECURITY_TOKEN", "TENCENTCLOUD_SECURITY_TOKEN")
#: ``(id names, key names, token names)``: where one service's tools keep credentials in the environment.
EnvNames = Tuple[Tuple[str, ...], Tuple[str, ...], Tuple[str, ...]]
COS_ENV: EnvNames = (ENV_SECRET_ID, ENV_SECRET_KEY, ENV_SECURITY_TOKEN)


@dataclass(frozen=True)
class Credentials:
    """A SecretId/SecretKey pair, plus the session token of temporary (STS) credentials.

    Attributes:
        secret_id: The SecretId (``AKID...``); it is an identifier, not a secret, and appears in signatures.
        secret_key: The SecretKey; never printed.
        token: The STS session token sent as ``x-cos-security-token``; never printed.
    """

    secret_id: str
    secret_key: str = field(repr=False)
    token: Optional[str] = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.secret_id or not self.secret_key:
            raise CosCredentialsError("credentials need both a secret_id and a secret_key")
        for name in ("secret_id", "secret_key", "token"):
            check_credential_text(name, getattr(self, name))

    def __repr__(self) -> str:
        token = ", token=<redacted>" if self.token else ""
        return f"Credentials(secret_id={self.secret_id!r}, secret_key=<redacted>{token})"

    __str__ = __repr__

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None, *, names: EnvNames = COS_ENV) -> "Credentials":
        """Read credentials from ``COS_SECRET_ID``/``COS_SECRET_KEY``/``COS_SECURITY_TOKEN``.

        ``TENCENTCLOUD_SECRET_ID``, ``TENCENTCLOUD_SECRET_KEY`` and ``TENCENTCLOUD_SECURITY_TOKEN`` are
        used when the ``COS_`` names are not set. ``names`` reads other variables instead (a dialect's,
        e.g. ``OSS_ACCESS_KEY_ID``/``OSS_ACCESS_KEY_SECRET``/``OSS_SESSION_TOKEN``).

        Raises:
            CosCredentialsError: No secret id or secret key is set.
        """
        env = os.environ if environ is None else environ
        id_names, key_names, token_names = names
        secret_id = _first(env, id_names)
        secret_key = _first(env, key_names)
        token = _first(env, token_names)
        if not secret_id or not secret_key:
            if names == COS_ENV:
                raise CosCredentialsError(
                    "no credentials: set COS_SECRET_ID and COS_SECRET_KEY "
                    "(or TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY)"
                )
            raise CosCredentialsError(f"no credentials: set {' or '.join(id_names)} and {' or '.join(key_names)}")
        return cls(secret_id, secret_key, token or None)


CredentialsProvider = Callable[[], Credentials]
CredentialsLike = Union[Credentials, CredentialsProvider, None]


def as_provider(credentials: CredentialsLike, env_names: EnvNames = COS_ENV) -> CredentialsProvider:
    """Turn static credentials, a provider or ``None`` (the environment, read once) into a provider."""
    if credentials is None:
        credentials = Credentials.from_env(names=env_names)
    if isinstance(credentials, Credentials):
        fixed = credentials
        return lambda: fixed
    if callable(credentials):
        return credentials
    raise CosCredentialsError(
        f"credentials must be Credentials, a callable returning Credentials, or None; "
        f"got {type(credentials).__name__}"
    )


class RefreshingCredentials:
    """A thread-safe provider that caches temporary credentials and fetches new ones before they expire.

    Args:
        fetch: Returns ``(credentials, expires_at)`` with ``expires_at`` in Unix seconds.
        refresh_margin: Fetch again when fewer than this many seconds of validity remain.
        clock: Time source, for tests.
    """

    def __init__(
        self,
        fetch: Callable[[], Tuple[Credentials, float]],
        *,
        refresh_margin: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        self._margin = refresh_margin
        self._clock = clock
        self._lock = threading.Lock()
        self._current: Optional[Credentials] = None
        self._expires_at = 0.0

    def __call__(self) -> Credentials:
        with self._lock:
            if self._current is None or self._clock() >= self._expires_at - self._margin:
                self._current, self._expires_at = self._fetch()
            return self._current

    def __repr__(self) -> str:
        return f"RefreshingCredentials(expires_at={self._expires_at:.0f})"


def check_credential_text(name: str, value: object) -> None:
    """Refuse a secret id, key or token that is not printable ASCII without white space.

    They travel in headers (the token as ``x-cos-security-token``, the id in ``Authorization``): a control
    character would make the HTTP library refuse the header with an error that quotes the value, and white
    space is what a copy-paste or ``$'...\\n'`` leaves behind. The message names ``name``, never the value.

    Raises:
        CosCredentialsError: ``value`` is not ``None`` and not such a string.
    """
    if value is None:
        return
    if not isinstance(value, str):
        raise CosCredentialsError(f"{name} must be a string, not {type(value).__name__}")
    bad = next((char for char in value if not "!" <= char <= "~"), None)
    if bad is not None:
        what = "a trailing newline" if value.endswith(("\n", "\r")) else (
            "white space" if bad.isspace() else "a control or non-ASCII character"
        )
        raise CosCredentialsError(
            f"{name} contains {what} (position {value.index(bad)} of {len(value)}); credentials are printable "
            "ASCII without spaces: check how it was set"
        )


def _first(env: Mapping[str, str], names: Tuple[str, ...]) -> str:
    for name in names:
        value = env.get(name, "")
        if value:
            check_credential_text(name, value)  # named after the variable, before any request is built
            return value
    return ""
