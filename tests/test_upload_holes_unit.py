"""Pure parts of the issue-8 holes: exit codes and the new configuration and error names (no server).

The integration side is tests/integration/holes/. Names the issue-8 rewrite adds are
imported inside the tests so this module collects before it lands.
"""

from __future__ import annotations

import dataclasses

import pytest

from cos_multipart._cli import main as cli
from cos_multipart._protocol.errors import CosValidationError, SourceChangedError
from cos_multipart._protocol.limits import MB
from cos_multipart._drivers.uploader import UploadConfig


def test_6_source_changed_has_its_own_exit_code() -> None:
    error = SourceChangedError("data.bin is shorter than when the upload started", path="data.bin")
    assert cli.exit_code_for(error) == 6, "a file that changed is reported as an unexpected failure"
    assert getattr(cli, "EXIT_SOURCE_CHANGED", None) == 6


def test_1_verify_reused_is_on_by_default_and_can_be_turned_off() -> None:
    # New name: UploadConfig.verify_reused (CLI --trust-checkpoint sets it False).
    assert UploadConfig().verify_reused is True
    assert UploadConfig(verify_reused=False).verify_reused is False
    with pytest.raises(CosValidationError) as info:
        UploadConfig(verify_reused="no")  # type: ignore[arg-type]
    assert info.value.field == "verify_reused"


def test_9_expected_size_is_validated() -> None:
    # New name: UploadConfig.expected_size (CLI --expected-size), for streams of unknown length.
    assert UploadConfig().expected_size is None
    assert UploadConfig(expected_size=100 * MB).expected_size == 100 * MB
    with pytest.raises(CosValidationError) as info:
        UploadConfig(expected_size=-1)
    assert info.value.field == "expected_size"


def test_11_kept_upload_of_reads_what_the_uploader_attached() -> None:
    # New names: errors.KeptUpload, errors.kept_upload_of.
    from cos_multipart._protocol.errors import KeptUpload, kept_upload_of

    kept = KeptUpload(
        bucket="examplebucket-1250000000", key="k", upload_id="id", parts_done=2, parts_total=4, checkpoint=None
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        kept.parts_done = 3  # type: ignore[misc]
    assert kept_upload_of(RuntimeError("no upload kept")) is None
    interrupted = KeyboardInterrupt()
    setattr(interrupted, "kept_upload", kept)  # noqa: B010 - what the driver does to any exception
    assert kept_upload_of(interrupted) == kept
