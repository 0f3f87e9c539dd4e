"""What the command line's ``--json`` output is checked with: every line one JSON object, each object exactly
the fields of its documented schema (docs/cli.md), each field of its type."""

from __future__ import annotations

import json
from typing import Any, Dict, List


def conforms(value: Dict[str, Any], schema: Dict[str, Any]) -> None:
    """Exactly the schema's fields, each of its type (``bool`` is not an ``int`` here)."""
    assert set(value) == set(schema), value
    for name, kind in schema.items():
        kinds = kind if isinstance(kind, tuple) else (kind,)
        assert isinstance(value[name], kinds) and not (isinstance(value[name], bool) and bool not in kinds), (name, value)


def json_lines(text: str) -> List[Dict[str, Any]]:
    """Every line of ``text`` is one JSON object (nothing else may be on the stream)."""
    return [json.loads(line) for line in text.splitlines()]
