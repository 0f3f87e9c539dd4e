"""The random names of the local server's files and request ids: their shape, and a fresh sequence in a fork."""

from __future__ import annotations

import os
import re

import pytest

from cos_multipart.testing._names import random_hex


@pytest.mark.parametrize("nbytes", [2, 4, 6, 12])
def test_random_hex_has_the_shape_of_token_hex(nbytes: int) -> None:
    values = {random_hex(nbytes) for _ in range(200)}
    assert all(re.fullmatch(f"[0-9a-f]{{{2 * nbytes}}}", value) for value in values)
    assert len(values) > 190  # leading zeros are kept, and the values differ


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_server_does_not_repeat_its_parents_names() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next names, then leave at once
        os.write(write, random_hex(12).encode("ascii"))
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode("ascii")
    os.close(read)
    os.waitpid(pid, 0)
    assert child != random_hex(12)
