"""Random hex for names no client can see the value of guessing: temporary files, data files, request ids.

``secrets.token_hex`` costs a ``getrandom`` system call each time, and a small PUT made six of them (the body's
temporary file, the data file, the record's temporary file, three parts of the request id). These names only
have to differ from each other, not to be unpredictable: the module-level Mersenne Twister gives the same
number of random bits without a system call, and :mod:`random` reseeds it in a forked child, so a server forked
from another does not repeat its names. Identifiers a client could abuse by guessing (upload ids, the store's
secret) stay on :mod:`secrets`.
"""

from __future__ import annotations

import random

_bits = random.getrandbits


def random_hex(nbytes: int) -> str:
    """``2 * nbytes`` lowercase hex digits, shaped like ``secrets.token_hex(nbytes)``."""
    return f"{_bits(8 * nbytes):0{2 * nbytes}x}"
