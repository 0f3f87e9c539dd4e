"""What :class:`~cos_multipart.testing.LocalCOS` offers that acts as a CLIENT of the server, not as the server.

``LocalCOS.presign()`` makes a pre-signed URL and ``LocalCOS.client()`` a configured
:class:`~cos_multipart.CosClient`: both are conveniences for the user of the server, on the client's side of
the wire, so they use the client's public API (:func:`cos_multipart.presign_url`, :class:`CosClient`). They
live here, apart, because nothing that CHECKS a rule may use the client's code (the server is an
independent oracle: see ``tests/testing/test_oracle_independence.py``, which lists this module as the
exception and why). ``server.py`` imports this module only inside the two methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict

from ..credentials import Credentials

if TYPE_CHECKING:  # pragma: no cover
    from ..client import CosClient


def presign(credentials: Credentials, url: Callable[[], str], *, method: str, expires: int, now: float) -> str:
    """The URL ``url()`` gives, pre-signed with ``credentials`` for ``method``, valid ``expires`` seconds from
    ``now`` (with the client's start-in-the-past allowance). ``expires`` is checked first, as the client
    checks it (1 to 604800), so a bad value is named even when the server is not running.

    Raises:
        CosValidationError: ``expires`` out of range.
    """
    from ..signer import SignWindow, presign_expires, presign_url

    window = SignWindow.around(now, presign_expires(expires))
    return presign_url(credentials, url(), method=method, window=window)


def make_client(options: Dict[str, Any]) -> "CosClient":
    """``CosClient(**options)``, imported here so that running the server never imports the client."""
    from ..client import CosClient

    return CosClient(**options)
