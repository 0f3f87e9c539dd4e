"""Compatibility at the sans-I/O boundary: CosAuth moved beside the transport and is still found at its old home.

Which modules may import an HTTP library is checked with the other import rules in tests/test_layers.py.
"""

from __future__ import annotations

import pytest

import cos_multipart
from cos_multipart import signer


def test_cos_auth_is_still_reachable_from_its_old_home() -> None:
    from cos_multipart._requests_auth import CosAuth

    assert signer.CosAuth is CosAuth is cos_multipart.CosAuth
    with pytest.raises(AttributeError):
        signer.NoSuchThing  # noqa: B018 - the attribute access is the test
