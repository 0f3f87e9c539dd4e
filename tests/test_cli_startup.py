"""The command line's start-up: building the parser (``cos-multipart --help``, and every command before it runs)
imports no HTTP stack, no uploader and no local server; ``import cos_multipart`` imports none of its modules.

Benchmarks measure the CPU time (``python -m bench startup``); these tests check the cause, what is imported.
"""

from __future__ import annotations

import json
import subprocess
import sys

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
