"""Which keys a recursive download may write below its target (pure)."""

from __future__ import annotations

import pytest

from cos_multipart._core._downloadnames import is_folder_marker, local_parts


@pytest.mark.parametrize(
    ("relative", "parts"),
    [("a", ("a",)), ("a/b/c.txt", ("a", "b", "c.txt")), ("日本/ファイル", ("日本", "ファイル")), ("a..b/..c", ("a..b", "..c")), ("-rf", ("-rf",))],
)
def test_safe_keys_become_path_components(relative: str, parts: tuple) -> None:  # type: ignore[type-arg]
    assert local_parts(relative) == (parts, "")


@pytest.mark.parametrize(
    ("relative", "why"),
    [
        ("", "prefix itself"), ("..", "'..'"), ("../x", "'..'"), ("a/../../b", "'..'"), ("a/..", "'..'"), ("./a", "'.'"),
        ("/etc/passwd", "absolute"), ("a//b", "empty"), ("a\x00b", "NUL"), ("a\\..\\b", "back-slash"), ("C:/x", "drive"),
        ("x" * 256, "longer"),
    ],
)  # fmt: skip
def test_unsafe_keys_are_refused_with_a_reason(relative: str, why: str) -> None:
    parts, reason = local_parts(relative)
    assert parts is None and why in reason


def test_folder_markers() -> None:
    assert is_folder_marker("photos/", 0) and not is_folder_marker("photos/", 3) and not is_folder_marker("photos", 0)
