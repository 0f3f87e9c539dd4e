"""The command line's config file: named profiles of settings, read and written without a dependency.

The file is ``$XDG_CONFIG_HOME/cos-multipart/config.toml`` (``~/.config/cos-multipart/config.toml`` when the
variable is unset), in a small subset of TOML that this module reads and writes itself: ``tomllib`` only
exists from Python 3.11 and the package supports 3.10. The subset: ``[NAME]`` tables (one per profile),
``key = "string"``, ``key = 'literal'`` or ``key = 123`` lines, ``#`` comments and blank lines. A file
written here is valid TOML, so other tools can read it.

Secrets (``secret_key``, ``token``) are not needed in the file: a profile can name the environment
variables that hold them (``secret_id_env``...). When one is stored, the file is written 0600 and a file
holding one that group or others can read is refused.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Tuple

from .._protocol.credentials import check_credential_text
from .._protocol.errors import REDACTED, CosValidationError

#: Where the profile to use is named when ``--profile`` is not given.
ENV_PROFILE = "COS_MULTIPART_PROFILE"
#: The profile used when neither ``--profile`` nor ``$COS_MULTIPART_PROFILE`` names one (if it exists).
DEFAULT_PROFILE = "default"
SERVICES = ("cos", "oss")
#: Keys whose values are secrets: never printed, and the file holding one must be private.
SECRET_KEYS = frozenset({"secret_key", "token"})


@dataclass(frozen=True)
class Key:
    """One setting a profile may hold.

    Attributes:
        name: The key in the file.
        what: What it is, with its unit (for ``config set`` errors and ``config list``).
        flag: The flag that overrides it (``None`` for credentials).
    """

    name: str
    what: str
    flag: Optional[str] = None


KEYS: Dict[str, Key] = {
    key.name: key
    for key in (
        Key("service", "cos or oss: the service the profile is for (a target of the other service is refused)"),
        Key("region", "region, e.g. ap-guangzhou or cn-hangzhou", "--region"),
        Key("endpoint", "URL with its scheme, e.g. https://cos.ap-guangzhou.myqcloud.com", "--endpoint"),
        Key("part_size", "bytes per part, with a unit: 8MB", "--part-size"),
        Key("concurrency", "requests in parallel, an integer 1..256", "--concurrency"),
        Key("checkpoint_dir", "directory of the checkpoints", "--checkpoint-dir"),
        Key("retry_time", "how long a failed request is retried, a duration: 2m", "--retry-time"),
        Key("timeout", "connect/read timeout of each request, a duration: 30s", "--timeout"),
        Key("ca_bundle", "CA bundle (PEM) to trust", "--ca-bundle"),
        Key("secret_id_env", "name of the environment variable holding the SecretId / AccessKeyId"),
        Key("secret_key_env", "name of the environment variable holding the SecretKey / AccessKeySecret"),
        Key("token_env", "name of the environment variable holding the STS token"),
        Key("secret_id", "the SecretId / AccessKeyId itself (not a secret, but better in the environment)"),
        Key("secret_key", "the SecretKey itself (a secret: the file becomes 0600)"),
        Key("token", "an STS token itself (a secret: the file becomes 0600)"),
    )
}
_NAME = re.compile(r"[A-Za-z0-9_-]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TABLE = re.compile(r"\[\s*([A-Za-z0-9_-]+)\s*\]")
_PAIR = re.compile(r"([A-Za-z0-9_-]+)\s*=\s*(.*)")
_BARE = re.compile(r"[+-]?[0-9][0-9_]*(?:\.[0-9]+)?")

Profiles = Dict[str, Dict[str, str]]


def config_path(environ: Optional[Mapping[str, str]] = None) -> Path:
    """``$XDG_CONFIG_HOME/cos-multipart/config.toml``, else ``~/.config/cos-multipart/config.toml``."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "cos-multipart" / "config.toml"


def check_name(name: str) -> str:
    """A profile name: letters, digits, ``-`` and ``_``.

    Raises:
        CosValidationError: Anything else (field ``--profile``).
    """
    if not _NAME.fullmatch(name):
        raise CosValidationError("--profile", name, "a profile name of letters, digits, '-' and '_'")
    return name


def check_value(key: str, value: str, *, parsers: Mapping[str, Callable[[str], object]]) -> str:
    """``value`` for ``key`` as it is stored (stripped), after checking it.

    Args:
        key: The setting.
        value: What the user typed.
        parsers: The command line's parsers by key (``part_size``: its size parser...), so a profile accepts
            exactly what the flag accepts.

    Raises:
        CosValidationError: An unknown key or a value the key does not take (field: the key).
    """
    if key not in KEYS:
        raise CosValidationError("KEY", key, f"one of: {', '.join(KEYS)}")
    text = value.strip()
    if not text:
        raise CosValidationError(key, REDACTED if key in SECRET_KEYS else value, f"a value: {KEYS[key].what}")
    if key in ("secret_id", "secret_key", "token"):
        check_credential_text(key, text)  # printable ASCII without spaces; its message never quotes the value
    if key == "service" and text.lower() not in SERVICES:
        raise CosValidationError(key, value, "cos or oss")
    if key.endswith("_env") and not _ENV_NAME.fullmatch(text):
        raise CosValidationError(key, value, "an environment variable name, e.g. PROD_COS_SECRET_KEY")
    if key == "endpoint" and "://" not in text:
        raise CosValidationError(key, value, f"a URL with its scheme: http://{text} or https://{text}")
    parse = parsers.get(key)
    if parse is not None:
        try:
            parse(text)
        except (ValueError, TypeError) as error:  # argparse.ArgumentTypeError is neither: callers wrap
            raise CosValidationError(key, value, KEYS[key].what) from error
    return text.lower() if key == "service" else text


def has_secret(profiles: Profiles) -> bool:
    """Whether any profile stores a secret."""
    return any(SECRET_KEYS & set(values) for values in profiles.values())


def parse(text: str, path: Path) -> Profiles:
    """The profiles of the file's ``text`` (the TOML subset described above).

    Raises:
        CosValidationError: A line outside the subset, naming the file and the line (field: the file).
    """
    profiles: Profiles = {}
    current: Optional[Dict[str, str]] = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        table = _TABLE.fullmatch(_uncomment(stripped))
        if table is not None:
            current = profiles.setdefault(table.group(1), {})
            continue
        pair = _PAIR.fullmatch(stripped)
        value = _value(pair.group(2)) if pair is not None else None
        if pair is None or value is None or current is None:
            raise CosValidationError(
                str(path), f"line {number}", "[PROFILE] lines and key = \"text\" or key = 123 lines under them "
                "(the TOML subset cos-multipart reads)",
            )  # fmt: skip
        current[pair.group(1)] = value
    return profiles


def _uncomment(text: str) -> str:
    return text.split("#", 1)[0].strip()


def _value(text: str) -> Optional[str]:
    """A TOML basic string, literal string or bare number (then an optional comment), as text."""
    text = text.strip()
    if text.startswith('"'):
        end = 1
        while end < len(text) and text[end] != '"':
            end += 2 if text[end] == "\\" else 1
        if end >= len(text) or _uncomment(text[end + 1 :]):
            return None
        try:
            decoded = json.loads(text[: end + 1])  # TOML basic strings escape as JSON does for what is written here
        except ValueError:
            return None
        return decoded if isinstance(decoded, str) else None
    if text.startswith("'"):
        end = text.find("'", 1)
        if end < 0 or _uncomment(text[end + 1 :]):
            return None
        return text[1:end]
    bare = _uncomment(text)
    return bare if _BARE.fullmatch(bare) else None


def dump(profiles: Profiles) -> str:
    """The file's text for ``profiles`` (valid TOML: every value a basic string, names bare)."""
    lines = ["# cos-multipart profiles (see: cos-multipart config --help); a subset of TOML"]
    for name, values in profiles.items():
        lines += ["", f"[{name}]"]
        lines += [f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def check_private(path: Path, profiles: Profiles) -> None:
    """Refuse a file that stores a secret and that group or others can read.

    Raises:
        CosValidationError: Naming the file and the ``chmod 600`` that fixes it.
    """
    if not has_secret(profiles):
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise CosValidationError(
            str(path), f"mode {mode:o}", f"a file only its owner can read, since it stores a secret "
            f"(secret_key or token): run chmod 600 {path}",
        )  # fmt: skip


def load(path: Path) -> Profiles:
    """The profiles of the file at ``path`` (none when it does not exist), checked for privacy."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    profiles = parse(text, path)
    check_private(path, profiles)
    return profiles


def save(path: Path, profiles: Profiles) -> None:
    """Write ``profiles`` to ``path`` atomically (a temporary file renamed over it), mode 0600.

    0600 whether or not a secret is stored: a file that gains one later is private from its first byte.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".config-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:  # mkstemp makes it 0600
            file.write(dump(profiles))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


def mask(key: str, value: str) -> str:
    """What may be printed of ``value``: nothing of a secret, the first 4 characters of a SecretId."""
    if key in SECRET_KEYS:
        return "********"
    if key == "secret_id":
        return value[:4] + "********"
    return value


def coscmd_profile(text: str, path: Path, *, with_secrets: bool) -> Tuple[Dict[str, str], List[str]]:
    """The settings a coscmd ``~/.cos.conf`` (INI, section ``[common]``) gives a profile, and the keys left out.

    Raises:
        CosValidationError: Not a coscmd config (no ``[common]`` section), naming the file.
    """
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as error:
        raise CosValidationError(str(path), "its text", f"a coscmd config (INI): {error}") from None
    if not parser.has_section("common"):
        raise CosValidationError(str(path), "its sections", "a coscmd config with a [common] section")
    common = parser["common"]
    profile: Dict[str, str] = {"service": "cos"}
    left: List[str] = []
    if common.get("region"):
        profile["region"] = common["region"].strip()
    if common.get("endpoint"):
        scheme = (common.get("schema") or "https").strip()
        endpoint = common["endpoint"].strip()
        profile["endpoint"] = endpoint if "://" in endpoint else f"{scheme}://{endpoint}"
    if (common.get("max_thread") or "").strip().isdigit():
        profile["concurrency"] = common["max_thread"].strip()
    if (common.get("part_size") or "").strip().isdigit():  # coscmd's part_size is in MB
        profile["part_size"] = f"{common['part_size'].strip()}MB"
    for ours, theirs in (("secret_id", "secret_id"), ("secret_key", "secret_key"), ("token", "token")):
        if common.get(theirs):
            if with_secrets:
                profile[ours] = common[theirs].strip()
            else:
                left.append(theirs)
    return profile, left
