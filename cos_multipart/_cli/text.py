"""Names printed for a person: control characters escaped, so a file or key name cannot move the cursor,
recolour the terminal, or forge a line of output.

JSON output (``--json``, ``--failures``) keeps names exact; only text meant for eyes goes through
:func:`shown`.
"""

from __future__ import annotations

import unicodedata

#: Characters that reorder the text around them (bidirectional overrides and isolates): a name holding one
#: can show as another name.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Short escapes of the common control characters.
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a name that is not UTF-8 (surrogateescape): show the byte
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _hidden(char: str) -> bool:
    # Cc: C0/C1 controls and DEL; Cs: lone surrogates (undecodable bytes); Zl/Zp: line and paragraph separators.
    return unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char in _BIDI


def shown(text: str) -> str:
    """``text`` with every control character, line separator, bidirectional override and undecodable byte
    written as an escape (``\\n``, ``\\x1b``, ``\\u202e``); anything else unchanged."""
    if text.isprintable():  # the common case: nothing to escape (printable excludes every class above)
        return text
    return "".join(_escape(char) if _hidden(char) else char for char in text)
