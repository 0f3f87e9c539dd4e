"""``cos-multipart config set | unset | list | show | path | import``, and the profile every command reads.

A profile (:mod:`cos_multipart._cli.profiles`) holds settings a user would otherwise repeat on every command.
Which one: ``--profile NAME``, else ``$COS_MULTIPART_PROFILE``, else the profile ``default`` if the file has
one. Each setting comes from the first of: its flag, its environment variable (``$COS_REGION``,
``$COS_ENDPOINT``, the credential variables; for ``oss://`` targets the ``OSS_`` ones), the profile, the
built-in default. :func:`apply_profile` fills what no flag gave before the command runs, and records in
``args.filled_in`` what it filled, so that "was this option given?" checks and ``config show`` can tell.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from . import profiles as _profiles
from .profiles import DEFAULT_PROFILE, ENV_PROFILE, KEYS, SECRET_KEYS
from .main import parse_duration, parse_size
from .._protocol.credentials import Credentials
from .._protocol.errors import CosCredentialsError, CosValidationError

_JSON_HELP = "print one JSON object (secrets masked)"
#: The options a profile fills when no flag gave them (region and endpoint: see :func:`place`).
FILLED = ("part_size", "concurrency", "checkpoint_dir", "retry_time", "timeout", "ca_bundle")


@dataclass(frozen=True)
class Chosen:
    """The profile a command uses.

    Attributes:
        name: Its name, or ``None`` when none is used.
        source: What chose it: ``--profile``, ``$COS_MULTIPART_PROFILE`` or ``default``.
        path: The config file.
        values: Its settings as stored (empty when none is used).
    """

    name: Optional[str]
    source: str
    path: Path
    values: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``profile NAME`` for messages."""
        return f"profile {self.name}"


def _checked(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def run(text: str) -> Any:
        try:
            return parse(text)
        except argparse.ArgumentTypeError as error:
            raise ValueError(str(error)) from None

    return run


def _concurrency(text: str) -> int:
    from .._drivers.uploader import MAX_CONCURRENCY

    value = int(text)
    if not 1 <= value <= MAX_CONCURRENCY:
        raise ValueError(f"1..{MAX_CONCURRENCY}")
    return value


def _duration(text: str) -> float:
    seconds = float(_checked(parse_duration)(text))
    if seconds < 0:
        raise ValueError(">= 0")
    return seconds


def _positive_duration(text: str) -> float:
    seconds = float(_checked(parse_duration)(text))
    if not seconds > 0:
        raise ValueError("more than 0 s")
    return seconds


#: How a profile's text becomes the option's value: exactly what the flag accepts.
PARSERS: Dict[str, Callable[[str], Any]] = {
    "part_size": _checked(parse_size),
    "concurrency": _concurrency,
    "retry_time": _duration,
    "timeout": _positive_duration,
    "checkpoint_dir": os.path.expanduser,
    "ca_bundle": os.path.expanduser,
}


def choose(args: argparse.Namespace, service: Optional[str] = None) -> Chosen:
    """The profile ``args`` asks for (``service``: the target's, to refuse a profile for the other one).

    Raises:
        CosValidationError: A profile named by ``--profile`` or ``$COS_MULTIPART_PROFILE`` that the file
            lacks, a profile for another service, or a file that is malformed or stores a secret others can read.
    """
    path = _profiles.config_path()
    if getattr(args, "profile", None):
        name, source = _profiles.check_name(args.profile), "--profile"
    elif os.environ.get(ENV_PROFILE):
        name, source = os.environ[ENV_PROFILE], f"${ENV_PROFILE}"
    else:
        name, source = DEFAULT_PROFILE, "default"
    profiles = _profiles.load(path)
    if name not in profiles:
        if source == "default":
            return Chosen(None, source, path)
        have = ", ".join(profiles) or "none"
        raise CosValidationError(
            source, name, f"a profile of {path} (it has: {have}); make one with: "
            f"cos-multipart config set --profile {name} KEY VALUE",
        )  # fmt: skip
    values = profiles[name]
    wanted = values.get("service")
    if service is not None and wanted is not None and wanted != service:
        if source == "default":
            return Chosen(None, f"default (profile {name} is for {wanted}://)", path)
        raise CosValidationError(
            source, name, f"a profile for {service}:// targets; profile {name} of {path} has service = {wanted!r}"
        )
    return Chosen(name, source, path, values)


def _service_of(args: argparse.Namespace) -> Optional[str]:
    """The service of the command's target as typed (``None`` without one)."""
    for attribute in ("target", "source"):
        text = getattr(args, attribute, None)
        if isinstance(text, str) and "://" in text:
            scheme = text.partition("://")[0].lower()
            if scheme in _profiles.SERVICES:
                return scheme
    return getattr(args, "service", None)


def apply_profile(args: argparse.Namespace) -> None:
    """Fill the options no flag gave from the chosen profile, then the built-in defaults (commands that
    talk to a service only: the others have no ``--retry-time``)."""
    if not hasattr(args, "retry_time"):
        if getattr(args, "profile", None) and not getattr(args, "names_profile", False):
            from .commands import refuse_option

            # serve, demo, completion, config list/path: they read no setting of a profile (never ignored)
            refuse_option("--profile", args.profile, f"does not apply to {_command_of(args)}: it uses no setting of a profile")
        return
    chosen = choose(args, _service_of(args))
    filled: Dict[str, str] = {}
    for dest in FILLED:
        if not hasattr(args, dest) or getattr(args, dest) is not None:
            continue
        if dest in chosen.values:
            setattr(args, dest, convert(chosen, dest))
            filled[dest] = chosen.label
    if hasattr(args, "concurrency") and args.concurrency is None:
        from .._drivers.uploader import DEFAULT_CONCURRENCY

        args.concurrency = DEFAULT_CONCURRENCY
        filled["concurrency"] = "default"
    args.filled_in = filled
    args.chosen_profile = chosen


def _command_of(args: argparse.Namespace) -> str:
    action = getattr(args, "config_command", None)
    return f"{args.command} {action}" if action else str(args.command)


def convert(chosen: Chosen, key: str) -> Any:
    """The option value of the profile's ``key``.

    Raises:
        CosValidationError: A value the flag would refuse, naming the key, the profile and the file.
    """
    text = chosen.values[key]
    try:
        return PARSERS[key](text)
    except (ValueError, TypeError):
        raise CosValidationError(
            f"{key} of {chosen.label} in {chosen.path}", text, KEYS[key].what
        ) from None


def _chosen(args: argparse.Namespace) -> Chosen:
    found = getattr(args, "chosen_profile", None)
    return found if isinstance(found, Chosen) else Chosen(None, "default", _profiles.config_path())


def place(args: argparse.Namespace, key: str) -> Tuple[Optional[str], str]:
    """The profile's ``region`` or ``endpoint`` and how to name it in an error (``(None, "")`` if it has none)."""
    chosen = _chosen(args)
    value = chosen.values.get(key)
    return (value, f"{key} of {chosen.label} in {chosen.path}") if value else (None, "")


def credentials(args: argparse.Namespace, names: Tuple[Tuple[str, ...], Tuple[str, ...], Tuple[str, ...]]) -> Optional[Credentials]:
    """The profile's credentials, or ``None`` when the service's own variables (``names``) hold some (the
    environment comes first) or the profile names none.

    Raises:
        CosCredentialsError: A variable the profile names is not set (the message names it, never a value).
    """
    if any(os.environ.get(name) for name in (*names[0], *names[1])):
        return None
    chosen = _chosen(args)
    found: Dict[str, Optional[str]] = {}
    for key in ("secret_id", "secret_key", "token"):
        variable = chosen.values.get(f"{key}_env")
        if variable is not None:
            found[key] = os.environ.get(variable) or None
            if found[key] is None and key != "token":
                raise CosCredentialsError(
                    f"no credentials: {chosen.label} ({chosen.path}) reads the {key} from ${variable}, which is not set"
                )
        else:
            found[key] = chosen.values.get(key)
    secret_id, secret_key = found["secret_id"], found["secret_key"]
    if not secret_id and not secret_key:
        return None
    if not secret_id or not secret_key:
        missing = "secret_key" if secret_id else "secret_id"
        raise CosCredentialsError(
            f"no credentials: {chosen.label} ({chosen.path}) has no {missing} (nor {missing}_env naming its variable)"
        )
    return Credentials(secret_id, secret_key, found["token"])


# --- the config command -----------------------------------------------------------------------------------


def register(subparsers: Any, parents: List[argparse.ArgumentParser]) -> None:
    """Add the ``config`` command and its sub-commands."""
    from .transfer import connection_options

    config = subparsers.add_parser(
        "config",
        help="profiles of settings in the config file: set, unset, list, show, path, import",
        description=f"Named profiles of settings in {_profiles.config_path()} ($XDG_CONFIG_HOME respected). A "
        f"command uses --profile NAME, else ${ENV_PROFILE}, else the profile 'default'. Each setting comes from "
        "its flag, else its environment variable, else the profile, else the default.",
    )
    actions = config.add_subparsers(dest="config_command", metavar="ACTION")
    actions.required = True
    keys = ", ".join(KEYS)

    set_ = actions.add_parser(
        "set", parents=parents, help="set KEY of a profile",
        description=f"Set KEY of the profile (--profile NAME, else ${ENV_PROFILE}, else 'default') to VALUE. Keys: "
        f"{keys}. secret_key and token are read from stdin (VALUE '-'), never from the command line; the "
        "file is always written 0600, atomically.",
    )  # fmt: skip
    set_.add_argument("key", metavar="KEY")
    set_.add_argument("value", metavar="VALUE", help="the value, with its unit (8MB, 2m); '-': read it from stdin")
    set_.add_argument("--json", action="store_true", help=_JSON_HELP)
    set_.set_defaults(handler=run_set, names_profile=True)

    unset = actions.add_parser("unset", parents=parents, help="remove KEY from a profile")
    unset.add_argument("key", metavar="KEY")
    unset.add_argument("--json", action="store_true", help=_JSON_HELP)
    unset.set_defaults(handler=run_unset, names_profile=True)

    list_ = actions.add_parser("list", parents=parents, help="the profiles and their settings (secrets masked)")
    list_.add_argument("--json", action="store_true", help="JSON Lines: one object per profile (secrets masked), then a summary object")
    list_.set_defaults(handler=run_list)

    path = actions.add_parser("path", parents=parents, help="print the config file's path")
    path.add_argument("--json", action="store_true", help=_JSON_HELP)
    path.set_defaults(handler=run_path)

    show = actions.add_parser(
        "show", parents=[*parents, connection_options()],
        help="each setting a command would use and where it comes from (secrets masked)",
        description="Each setting a command would use with these flags, environment and profile, and its "
        "source: flag, environment, profile or default. Secrets are never printed.",
    )  # fmt: skip
    show.add_argument("--service", choices=_profiles.SERVICES, help="for targets of this service (default: the profile's, else cos)")
    show.add_argument("--part-size", type=parse_size, help="as the transfer flag")
    show.add_argument("--concurrency", type=int, help="as the transfer flag")
    show.add_argument("--checkpoint-dir", help="as the transfer flag")
    show.add_argument("--json", action="store_true", help="print one JSON object: each setting's value and source (secrets masked)")
    show.set_defaults(handler=run_show)

    import_ = actions.add_parser(
        "import", parents=parents, help="make profiles from COSCLI's ~/.cos.yaml or coscmd's ~/.cos.conf",
        description="Make profiles from another tool's config. COSCLI's cos.yaml (a file whose first line is "
        "'cos:'): one profile per bucket entry, named by its alias (else the bucket name), with its region and "
        "endpoint. coscmd's INI (~/.cos.conf): one profile (--profile NAME, default 'coscmd') with the region, "
        "endpoint, threads and part size. Credentials are copied only with --with-secrets (better: keep them "
        "in the environment). FILE: default ~/.cos.conf if it exists, else ~/.cos.yaml.",
    )  # fmt: skip
    import_.add_argument("file", metavar="FILE", nargs="?", help="the config to read (default ~/.cos.conf, else ~/.cos.yaml)")
    import_.add_argument("--with-secrets", action="store_true", help="also copy the credentials into the file")
    import_.add_argument("--json", action="store_true", help=_JSON_HELP)
    import_.set_defaults(handler=run_import, names_profile=True)


def _target_name(args: argparse.Namespace, default: str = DEFAULT_PROFILE) -> str:
    """The profile ``config set/unset/import`` writes: ``--profile``, ``$COS_MULTIPART_PROFILE``, ``default``."""
    return _profiles.check_name(args.profile or os.environ.get(ENV_PROFILE) or default)


def _secret_from_stdin(key: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(f"{key}: ")
    return sys.stdin.readline().strip()


def run_set(args: argparse.Namespace) -> int:
    """``config set KEY VALUE``."""
    name = _target_name(args)
    value: str = args.value
    if args.key in SECRET_KEYS:
        if value != "-":
            raise CosValidationError(
                "VALUE", "<hidden>", f"'-' for {args.key}, then the secret on stdin: a command line is seen by "
                "other users (ps) and kept in the shell history; better still, leave it in the environment "
                f"and set {args.key}_env to the variable's name",
            )  # fmt: skip
        value = _secret_from_stdin(args.key)
    elif value == "-":
        value = sys.stdin.readline().strip()
    path = _profiles.config_path()
    profiles = _profiles.load(path)
    stored = _profiles.check_value(args.key, value, parsers=PARSERS)
    profiles.setdefault(name, {})[args.key] = stored
    _profiles.save(path, profiles)
    if args.json:
        _emit({"type": "set", "profile": name, "key": args.key, "value": _profiles.mask(args.key, stored), "path": str(path)})
    elif not args.quiet:
        print(f"{name}.{args.key} = {_profiles.mask(args.key, stored)} (in {path})")
    return 0


def run_unset(args: argparse.Namespace) -> int:
    """``config unset KEY``."""
    name = _target_name(args)
    path = _profiles.config_path()
    profiles = _profiles.load(path)
    if args.key not in profiles.get(name, {}):
        raise CosValidationError("KEY", args.key, f"a key of profile {name} in {path}: {', '.join(profiles.get(name, {})) or 'it has none'}")
    del profiles[name][args.key]
    _profiles.save(path, profiles)
    if args.json:
        _emit({"type": "unset", "profile": name, "key": args.key, "path": str(path)})
    elif not args.quiet:
        print(f"removed {name}.{args.key} (from {path})")
    return 0


def run_list(args: argparse.Namespace) -> int:
    """``config list``: every profile and its settings, secrets masked."""
    path = _profiles.config_path()
    profiles = _profiles.load(path)
    if args.json:
        for name, values in profiles.items():
            _emit({"type": "profile", "name": name, "settings": {key: _profiles.mask(key, value) for key, value in values.items()}})
        _emit({"type": "summary", "profiles": len(profiles), "path": str(path)})
        return 0
    if not profiles and not args.quiet:
        print(f"no profiles in {path}: make one with cos-multipart config set --profile NAME KEY VALUE", file=sys.stderr)
    for name, values in profiles.items():
        print(f"[{name}]")
        for key, value in values.items():
            print(f"{key} = {_profiles.mask(key, value)}")
    return 0


def run_path(args: argparse.Namespace) -> int:
    """``config path``."""
    if args.json:
        found = _profiles.config_path()
        _emit({"type": "path", "path": str(found), "exists": found.exists()})
        return 0
    print(_profiles.config_path())
    return 0


def _emit(value: Dict[str, Any]) -> None:
    from .json_output import emit

    emit(value)


def run_import(args: argparse.Namespace) -> int:
    """``config import [FILE]``: profiles from COSCLI's cos.yaml (one per bucket) or coscmd's cos.conf (one)."""
    from . import coscli as _cli_coscli

    if args.file is not None:
        source = Path(os.path.expanduser(args.file))
    else:
        coscmd = Path(os.path.expanduser("~/.cos.conf"))
        source = coscmd if coscmd.exists() else Path(os.path.expanduser("~/.cos.yaml"))
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CosValidationError(
            "FILE", str(source), "an existing config: COSCLI's (coscli config init writes ~/.cos.yaml) or "
            "coscmd's (coscmd config writes ~/.cos.conf)",
        ) from None  # fmt: skip
    imported: Dict[str, Dict[str, str]]
    if _cli_coscli.looks_like(text):
        kind = "coscli"
        imported, left = _cli_coscli.profiles(text, source, with_secrets=args.with_secrets)
        if args.profile is not None:
            if len(imported) != 1:
                raise CosValidationError(
                    "--profile", args.profile, f"one profile, but {source} has {len(imported)} buckets: without "
                    "--profile each becomes a profile named by its alias (else its bucket name)",
                )  # fmt: skip
            imported = {_profiles.check_name(args.profile): next(iter(imported.values()))}
    else:
        kind = "coscmd"
        single, left = _profiles.coscmd_profile(text, source, with_secrets=args.with_secrets)
        imported = {_target_name(args, default="coscmd"): single}
    for name, values in imported.items():
        for key, value in values.items():
            try:
                _profiles.check_value(key, value, parsers=PARSERS)
            except CosValidationError as error:  # name where the value came from, never a secret's text
                raise CosValidationError(f"{key} of {name} imported from {source}", error.value, error.allowed) from None
    path = _profiles.config_path()
    profiles = _profiles.load(path)
    for name, values in imported.items():
        profiles.setdefault(name, {}).update(values)
    _profiles.save(path, profiles)
    if args.json:
        _emit({
            "type": "imported", "source": str(source), "format": kind, "path": str(path),
            "profiles": {name: {key: _profiles.mask(key, value) for key, value in values.items()} for name, values in imported.items()},
            "left_out": left,
        })  # fmt: skip
        return 0
    if not args.quiet:
        for name, values in imported.items():
            print(f"profile {name} in {path}: {', '.join(values)} from {source}")
        if left:
            print(
                f"not copied: {', '.join(left)} (keep credentials in the environment: COS_SECRET_ID, COS_SECRET_KEY; "
                "or run again with --with-secrets)", file=sys.stderr,
            )  # fmt: skip
    return 0


def run_show(args: argparse.Namespace) -> int:
    """``config show``: each setting, its value and its source."""
    from .target import Target
    from .._io.checkpoint import default_checkpoint_dir
    from .._protocol.dialect import DIALECTS
    from .._protocol.limits import MB
    from .._protocol.retry import DEFAULT_RETRY_TIME
    from .._io.transport import DEFAULT_TIMEOUT

    chosen = _chosen(args)  # main() applied the profile: the command has --retry-time
    service = args.service or chosen.values.get("service") or "cos"
    place_of = Target(DIALECTS[service], "", "")
    rows: List[Tuple[str, str, str]] = [
        ("profile", chosen.name or "(none)", chosen.source),
        ("config file", str(chosen.path), "exists" if chosen.path.exists() else "missing"),
        ("service", service, "--service" if args.service else chosen.label if "service" in chosen.values else "default"),
    ]
    for key, variable, default in (
        ("region", place_of.region_env, "(none: from the endpoint's host, else required)"),
        ("endpoint", place_of.endpoint_env, "(the bucket's default host)"),
    ):
        if getattr(args, key):
            rows.append((key, getattr(args, key), f"--{key}"))
        elif os.environ.get(variable):
            rows.append((key, os.environ[variable], f"${variable}"))
        elif key in chosen.values:
            rows.append((key, chosen.values[key], chosen.label))
        else:
            rows.append((key, default, "default"))
    defaults: Dict[str, Any] = {
        "part_size": f"{8 * MB} (8MB, grown as needed)",
        "checkpoint_dir": str(default_checkpoint_dir()),
        "retry_time": f"{DEFAULT_RETRY_TIME:g} s",
        "timeout": f"{DEFAULT_TIMEOUT[0]:g} s to connect, {DEFAULT_TIMEOUT[1]:g} s to read",
        "ca_bundle": "(the public CAs, or $REQUESTS_CA_BUNDLE / $CURL_CA_BUNDLE / $SSL_CERT_FILE)",
    }
    filled: Mapping[str, str] = getattr(args, "filled_in", {})
    for key in FILLED:
        value = getattr(args, key, None)
        if key in filled:
            rows.append((key, _shown_value(key, value, chosen), filled[key]))
        elif value is not None:
            rows.append((key, _shown_value(key, value, chosen), KEYS[key].flag or key))
        else:
            rows.append((key, str(defaults[key]), "default"))
    rows += _credential_rows(chosen, DIALECTS[service].credential_env)
    if args.json:
        _emit({"type": "settings", "settings": {
            # "(not set)", "(none)", "(the bucket's default host)"...: words for the eye; a script reads null
            key.replace(" ", "_"): {"value": None if value.startswith("(") else value, "source": source} for key, value, source in rows
        }})  # fmt: skip
        return 0
    width = max(len(row[0]) for row in rows)
    value_width = max(len(row[1]) for row in rows)
    for key, value, source in rows:
        print(f"{key:<{width}}  {value:<{value_width}}  ({source})")
    return 0


def _shown_value(key: str, value: Any, chosen: Chosen) -> str:
    if key in ("retry_time", "timeout"):
        return f"{value:g} s"
    return str(value)


def _credential_rows(chosen: Chosen, names: Tuple[Tuple[str, ...], Tuple[str, ...], Tuple[str, ...]]) -> List[Tuple[str, str, str]]:
    """Where each credential would come from; values masked (a SecretId shows its first 4 characters)."""
    rows: List[Tuple[str, str, str]] = []
    from_env = any(os.environ.get(name) for name in (*names[0], *names[1]))
    for key, variables in zip(("secret_id", "secret_key", "token"), names):
        if from_env:
            variable = next((name for name in variables if os.environ.get(name)), None)
            if variable is not None:
                rows.append((key, _profiles.mask(key, os.environ[variable]), f"${variable}"))
            else:
                rows.append((key, "(not set)", "environment"))
            continue
        named = chosen.values.get(f"{key}_env")
        if named is not None:
            value = os.environ.get(named)
            rows.append((key, _profiles.mask(key, value) if value else "(not set)", f"${named}, named by {chosen.label}"))
        elif key in chosen.values:
            rows.append((key, _profiles.mask(key, chosen.values[key]), f"{chosen.label}, stored in the file"))
        else:
            rows.append((key, "(not set)", f"${variables[0]}"))
    return rows

