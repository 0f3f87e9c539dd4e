"""``config import`` of COSCLI's ``~/.cos.yaml``: a reader for that one known shape, without a YAML dependency.

COSCLI (Tencent's ``coscli``) keeps its settings as YAML::

    cos:
      base:
        secretid: AKID...
        secretkey: ...
        sessiontoken: ""
        protocol: https
      buckets:
      - name: examplebucket-1250000000
        alias: bucket1
        region: ap-shanghai
        endpoint: cos.ap-shanghai.myqcloud.com
        ofs: false

Python reads no YAML without a dependency, so this module reads the block subset such a file is written in:
mappings (``key: value`` / ``key:`` then an indented block), sequences (``- ...``, indented or not under
their key), plain, ``"double"`` and ``'single'`` quoted scalars, ``#`` comments. Anything else (flow
collections, block scalars, anchors, tags, several documents) is refused, naming the file and the line: a
reader that guessed could import a wrong region or endpoint without a word.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, NoReturn, Optional, Tuple, Union

from .._protocol.errors import CosValidationError

#: The first character of a scalar this reader does not handle (flow collections, block scalars, anchors,
#: aliases, tags, directives, reserved).
_UNSUPPORTED_START = tuple("{[|>&*!%@`")
_KEY = re.compile(r"([A-Za-z0-9_.-]+)\s*:(?:\s+(.*))?")
#: A profile name (as ``_profiles.check_name``): what an alias or bucket name becomes.
_NAME = re.compile(r"[A-Za-z0-9_-]+")

Value = Union[str, None, Dict[str, Any], List[Any]]


@dataclass(frozen=True)
class _Line:
    number: int
    indent: int
    text: str


class _Reader:
    """The block-YAML subset above, read into dicts, lists and strings (``None`` for an empty value)."""

    def __init__(self, text: str, path: Path) -> None:
        self.path = path
        self.lines: List[_Line] = []
        for number, raw in enumerate(text.splitlines(), 1):
            if "\t" in raw[: len(raw) - len(raw.lstrip())]:
                self.refuse(number, "a tab in the indentation (YAML indents with spaces)")
            stripped = raw.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if stripped in ("---", "...") or stripped.startswith("%"):
                if stripped == "---" and not self.lines:
                    continue  # one document's start marker
                self.refuse(number, "one YAML document without directives")
            self.lines.append(_Line(number, len(raw) - len(raw.lstrip(" ")), stripped))
        self.index = 0

    def refuse(self, number: int, what: str) -> NoReturn:
        raise CosValidationError(
            str(self.path), f"line {number}", f"COSCLI's cos.yaml in the YAML subset cos-multipart reads "
            f"(key: value, key: then an indented block, - items, plain or quoted scalars): {what}",
        )  # fmt: skip

    def read(self) -> Value:
        if not self.lines:
            return None
        value = self.block(self.lines[0].indent)
        if self.index < len(self.lines):
            line = self.lines[self.index]
            self.refuse(line.number, "an indentation that matches no enclosing block")
        return value

    def block(self, indent: int) -> Value:
        line = self.lines[self.index]
        if line.text == "-" or line.text.startswith("- "):
            return self.sequence(indent)
        return self.mapping(indent)

    def mapping(self, indent: int) -> Dict[str, Any]:
        found: Dict[str, Any] = {}
        while self.index < len(self.lines):
            line = self.lines[self.index]
            if line.indent < indent:
                break
            if line.indent > indent:
                self.refuse(line.number, "an indentation that matches no enclosing block")
            if line.text == "-" or line.text.startswith("- "):
                break  # a sequence at this indent ends the mapping (its owner decides whether that is right)
            match = _KEY.fullmatch(line.text)
            if match is None:
                self.refuse(line.number, f"not a 'key: value' line: {line.text[:40]!r}")
            key, rest = match.group(1), match.group(2)
            if key in found:
                self.refuse(line.number, f"the key {key!r} twice")
            self.index += 1
            if rest is not None and rest.strip() and not rest.strip().startswith("#"):
                found[key] = self.scalar(rest, line.number)
                continue
            following = self.lines[self.index] if self.index < len(self.lines) else None
            if following is not None and (
                following.indent > indent
                or (following.indent == indent and (following.text == "-" or following.text.startswith("- ")))
            ):
                found[key] = self.block(following.indent)
            else:
                found[key] = None
        return found

    def sequence(self, indent: int) -> List[Any]:
        items: List[Any] = []
        while self.index < len(self.lines):
            line = self.lines[self.index]
            if line.indent != indent or not (line.text == "-" or line.text.startswith("- ")):
                if line.indent > indent:
                    self.refuse(line.number, "an indentation that matches no enclosing block")
                break
            rest = line.text[1:].lstrip(" ")
            if not rest or rest.startswith("#"):
                self.index += 1
                following = self.lines[self.index] if self.index < len(self.lines) else None
                items.append(self.block(following.indent) if following is not None and following.indent > indent else None)
                continue
            if _KEY.fullmatch(rest):  # "- key: value": a mapping whose first line starts after the dash
                self.lines[self.index] = _Line(line.number, line.indent + len(line.text) - len(rest), rest)
                items.append(self.mapping(self.lines[self.index].indent))
                continue
            self.index += 1
            items.append(self.scalar(rest, line.number))
        return items

    def scalar(self, text: str, number: int) -> Optional[str]:
        text = text.strip()
        if not text or text.startswith("#"):
            return None
        if text.startswith('"'):
            end = 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            rest = text[end + 1 :].strip()
            if end >= len(text) or (rest and not rest.startswith("#")):
                self.refuse(number, "a double-quoted value that does not end on its line")
            try:
                decoded = json.loads(text[: end + 1])  # the escapes COSCLI writes (\" \\ \n) read as JSON's
            except ValueError:
                self.refuse(number, "a double-quoted value with an escape this reader does not know")
            return str(decoded)
        if text.startswith("'"):
            match = re.match(r"'((?:[^']|'')*)'\s*(#.*)?$", text)
            if match is None:
                self.refuse(number, "a single-quoted value that does not end on its line")
            return match.group(1).replace("''", "'")
        if text.startswith(_UNSUPPORTED_START):
            self.refuse(number, f"a value starting with {text[0]!r} (flow collections, block scalars, anchors, tags)")
        return re.split(r"\s+#", text, maxsplit=1)[0].strip()


def read(text: str, path: Path) -> Value:
    """The value of the YAML ``text`` (the subset above).

    Raises:
        CosValidationError: A line outside the subset (field: the file; value: ``line N``).
    """
    return _Reader(text, path).read()


def looks_like(text: str) -> bool:
    """Whether ``text`` is a COSCLI config rather than coscmd's INI: its first line is the ``cos:`` mapping."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and stripped != "---":
            return stripped.split("#", 1)[0].strip() == "cos:"
    return False


def profiles(text: str, path: Path, *, with_secrets: bool) -> Tuple[Dict[str, Dict[str, str]], List[str]]:
    """One profile per bucket entry of a COSCLI ``cos.yaml``, named by its alias (else its bucket name), and
    the credentials left out (all of them without ``with_secrets``). ``ofs`` (a metadata-accelerated bucket)
    changes nothing in the object API this package uses, and is not imported.

    A bucket's ``endpoint`` is kept only when it is not the region's default host (``cos.REGION.myqcloud.com``,
    which the profile's region gives anyway), with the scheme of ``cos.base.protocol`` (default https).

    Raises:
        CosValidationError: Not that shape, naming the file and what is missing.
    """
    value = read(text, path)
    cos = value.get("cos") if isinstance(value, dict) else None
    if not isinstance(cos, dict):
        raise CosValidationError(str(path), "its text", "a COSCLI config: a top-level 'cos:' mapping")
    base = cos.get("base") or {}
    buckets = cos.get("buckets") or []
    if not isinstance(base, dict) or not isinstance(buckets, list):
        raise CosValidationError(str(path), "cos.base / cos.buckets", "a mapping and a list, as COSCLI writes them")
    if not buckets:
        raise CosValidationError(str(path), "cos.buckets", "at least one bucket (each becomes a profile)")
    protocol = str(base.get("protocol") or "https").lower()
    if protocol not in ("http", "https"):
        raise CosValidationError(f"{path}: cos.base.protocol", protocol, "http or https")
    credentials = (("secret_id", "secretid"), ("secret_key", "secretkey"), ("token", "sessiontoken"))
    made: Dict[str, Dict[str, str]] = {}
    left: List[str] = []
    for number, bucket in enumerate(buckets, 1):
        if not isinstance(bucket, dict) or not bucket.get("name"):
            raise CosValidationError(str(path), f"cos.buckets entry {number}", "a mapping with a name")
        name = str(bucket.get("alias") or bucket["name"])
        if not _NAME.fullmatch(name):
            raise CosValidationError(
                f"{path}: cos.buckets entry {number}", name, "an alias (or bucket name) of letters, digits, '-' and '_' to name the profile"
            )
        if name in made:
            raise CosValidationError(f"{path}: cos.buckets entry {number}", name, "a profile name no other entry has")
        profile: Dict[str, str] = {"service": "cos"}
        region = str(bucket.get("region") or "").strip()
        if region:
            profile["region"] = region
        endpoint = str(bucket.get("endpoint") or "").strip()
        if endpoint and endpoint.split("://")[-1].rstrip("/") != f"cos.{region}.myqcloud.com":
            profile["endpoint"] = endpoint if "://" in endpoint else f"{protocol}://{endpoint}"
        for ours, theirs in credentials:
            found = base.get(theirs)
            if found:
                if with_secrets:
                    profile[ours] = str(found)
                elif f"cos.base.{theirs}" not in left:
                    left.append(f"cos.base.{theirs}")
        made[name] = profile
    return made, left
