"""What :class:`~cos_multipart.testing.LocalCOS` offers that acts as a CLIENT of the server, not as the server.

``LocalCOS.presign()`` makes a pre-signed URL and ``LocalCOS.client()`` a configured
:class:`~cos_multipart.CosClient`: both are conveniences for the user of the server, on the client's side of
the wire, so they use the client's public API (``cos_multipart.presign_url``, ``cos_multipart.CosClient``,
imported from the package itself, never from the client's modules). They
live here, apart, because nothing that CHECKS a rule may use the client's code (the server is an
independent oracle: see ``tests/testing/test_oracle_independence.py``, which lists this module as the
exception and why). ``server.py`` imports this module only inside the two methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict

from .._protocol.credentials import Credentials
from .._protocol.errors import CosValidationError
from ._limits import MAX_PRESIGN_SECONDS

if TYPE_CHECKING:  # pragma: no cover
    from .. import CosClient


def presign(credentials: Credentials, url: Callable[[], str], *, method: str, expires: int, now: float) -> str:
    """The URL ``url()`` gives, pre-signed with ``credentials`` for ``method``, valid ``expires`` seconds from
    ``now`` (with the client's start-in-the-past allowance). ``expires`` is checked first (1 to 604800, the
    bound the client applies too), so a bad value is named even when the server is not running.

    Raises:
        CosValidationError: ``expires`` out of range.
    """
    from .. import SignWindow, presign_url  # the client's public API

    if isinstance(expires, bool) or not isinstance(expires, int) or not 1 <= expires <= MAX_PRESIGN_SECONDS:
        raise CosValidationError("expires", expires, f"an integer from 1 to {MAX_PRESIGN_SECONDS} seconds (7 days)")
    return presign_url(credentials, url(), method=method, window=SignWindow.around(now, expires))


def make_client(options: Dict[str, Any]) -> "CosClient":
    """``CosClient(**options)``, imported here so that running the server never imports the client."""
    from .. import CosClient  # the client's public API

    return CosClient(**options)
