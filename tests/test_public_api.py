"""The public surface: everything in ``__all__`` exists, and the error tree has the documented shape."""

from __future__ import annotations

import subprocess
import sys

import cos_multipart
from cos_multipart._protocol import errors


def test_every_exported_name_exists() -> None:
    missing = [name for name in cos_multipart.__all__ if not hasattr(cos_multipart, name)]
    assert missing == []


def test_every_error_derives_from_cos_error_and_validation_is_a_value_error() -> None:
    classes = [getattr(errors, name) for name in dir(errors) if name.endswith("Error") and name != "CosError"]
    assert classes and all(issubclass(cls, errors.CosError) for cls in classes)
    assert issubclass(errors.CosValidationError, ValueError)


def test_importing_the_package_leaves_the_local_server_unloaded() -> None:
    # Applications import cos_multipart; the test server (and its HTTP stack) is opt-in.
    code = "import sys, cos_multipart; print(any(m.startswith('cos_multipart.testing') for m in sys.modules))"
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert output.strip() == "False"
