"""The command line's start-up: building the parser (``cos-multipart --help``, and every command before it runs)
imports no HTTP stack, no uploader and no local server; ``import cos_multipart`` imports none of its modules.

``cos-multipart --help`` and ``--version`` build no command's parser at all (each is a stub until the command is
parsed: ``_cli/catalog.py``), so they import none of the command modules.

Benchmarks measure the CPU time (``python -m bench goals``); these tests check the cause, what is imported.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import cos_multipart
from cos_multipart._cli import server as cli_server
from cos_multipart._cli import target as cli_target
from cos_multipart._core import _defaults
from cos_multipart._core import _config, planner
from cos_multipart._drivers import check as check_driver
from cos_multipart._protocol.dialect import DIALECTS
from cos_multipart.testing import server as local_server

#: What building the parser must not import (each costs tens of milliseconds; the server hundreds).
_HEAVY = ("requests", "urllib3", "lxml", "asyncio", "aiohttp", "cos_multipart.testing", "cos_multipart._io",
          "cos_multipart._drivers", "cos_multipart._core.session", "cos_multipart._protocol.dialect")  # fmt: skip


def _modules_after(code: str) -> list[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    output = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    loaded: list[str] = json.loads(output)
    return loaded


def test_building_the_parser_imports_no_http_stack_uploader_or_server() -> None:
    loaded = _modules_after("from cos_multipart._cli.main import build_parser\nbuild_parser()")
    assert [name for name in loaded if name.startswith(_HEAVY)] == []


#: What ``cos-multipart --help`` and ``--version`` do not need: they end while the top-level parser, which holds a
#: stub per command (``_cli/catalog.py``), parses them. No command module, no exception tree (nor dataclasses),
#: no logging, JSON, retry policy, date arithmetic, typing or shutil: each costs milliseconds of every start-up.
_NOT_FOR_THE_TOP_LEVEL = (
    "cos_multipart._cli.", "cos_multipart._protocol.errors", "cos_multipart._protocol.retry", "cos_multipart._core",
    "dataclasses", "inspect", "logging", "json", "traceback", "urllib", "datetime", "random", "pathlib", "tempfile",
    "concurrent", "shlex", "fnmatch", "unicodedata", "typing", "shutil",
)  # fmt: skip
#: What they import of the package: the command line and the constants of the size units.
_TOP_LEVEL_MODULES = ["cos_multipart._cli.catalog", "cos_multipart._cli.main", "cos_multipart._protocol.limits"]


def _modules_after_main(*argv: str) -> list[str]:
    """The modules ``main(argv)`` loads (it exits 0), as ``cos-multipart ARGV`` runs it (less those Python's start
    loaded: a development install's import hook imports pathlib and more at every start)."""
    script = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "from cos_multipart._cli.main import main\n"
        "try:\n"
        f"    main({list(argv)!r})\n"
        "except SystemExit as stop:\n"
        "    assert stop.code == 0, stop.code\n"
        "print('\\n'.join(sorted(set(sys.modules) - before)), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    assert done.stdout.strip(), "no help printed"
    return done.stderr.split()


@pytest.mark.parametrize("argv", [["--help"], ["-h"], ["--version"]])
def test_the_top_level_help_and_version_build_no_command(argv: list[str]) -> None:
    loaded = _modules_after_main(*argv)
    unneeded = [name for name in loaded if name.startswith(_NOT_FOR_THE_TOP_LEVEL + _HEAVY)]
    assert [name for name in unneeded if name not in _TOP_LEVEL_MODULES] == []
    ours = sorted(name for name in loaded if name.startswith("cos_multipart."))
    assert ours == ["cos_multipart._cli", *_TOP_LEVEL_MODULES[:2], "cos_multipart._protocol", _TOP_LEVEL_MODULES[2]]


def test_a_commands_help_builds_its_module_only() -> None:
    loaded = _modules_after_main("completion", "--help")
    assert [name for name in loaded if name.startswith(_HEAVY)] == []
    commands = {name.rpartition(".")[2] for name in loaded if name.startswith("cos_multipart._cli.")}
    assert commands == {"catalog", "main", "completion"}


def test_the_upload_help_imports_no_other_command_logging_json_or_random() -> None:
    loaded = _modules_after_main("upload", "--help")
    assert [name for name in loaded if name.startswith(_HEAVY)] == []
    others = ("check", "config", "profiles", "objects", "cp", "download", "server", "completion", "json_output")
    assert [name for name in loaded if name.rpartition(".")[2] in others] == []
    assert {"logging", "json", "random", "datetime"} & set(loaded) == set()


def test_importing_the_package_imports_none_of_its_modules() -> None:
    loaded = _modules_after("import cos_multipart")
    assert [name for name in loaded if name.startswith("cos_multipart.")] == []


def test_a_public_name_is_imported_on_first_use_and_kept() -> None:
    upload_file = cos_multipart.upload_file
    assert upload_file is cos_multipart.upload_file
    assert "upload_file" in vars(cos_multipart)  # the second lookup is a plain attribute
    assert set(cos_multipart.__all__) <= set(dir(cos_multipart))


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        cos_multipart.no_such_name  # noqa: B018
    except AttributeError as error:
        assert "no_such_name" in str(error)
    else:
        raise AssertionError("expected AttributeError")


def test_the_help_texts_literals_equal_the_values_they_stand_for() -> None:
    assert cli_server.DEFAULT_BUCKET == local_server.DEFAULT_BUCKET
    assert cli_server.DEFAULT_REGION == local_server.DEFAULT_REGION
    assert cli_server.OSS_DEFAULT_BUCKET == local_server.OSS_DEFAULT_BUCKET
    assert cli_server.OSS_DEFAULT_REGION == local_server.OSS_DEFAULT_REGION
    assert cli_server.DEFAULT_MAX_CONNECTIONS == local_server.DEFAULT_MAX_CONNECTIONS
    assert cli_server.DEFAULT_REQUEST_TIMEOUT == local_server.DEFAULT_REQUEST_TIMEOUT
    assert cli_target.SCHEMES == tuple(f"{name}://" for name in DIALECTS)


def test_the_defaults_have_one_definition() -> None:
    assert planner.DEFAULT_PART_SIZE is _defaults.DEFAULT_PART_SIZE
    assert _config.DEFAULT_CONCURRENCY is _defaults.DEFAULT_CONCURRENCY
    assert _config.DEFAULT_MULTIPART_THRESHOLD is _defaults.DEFAULT_MULTIPART_THRESHOLD
    assert check_driver.DEFAULT_CHECK_CONCURRENCY is _defaults.DEFAULT_CHECK_CONCURRENCY
