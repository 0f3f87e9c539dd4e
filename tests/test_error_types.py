"""The two errors added for issue 19: ``SourceNotFoundError`` (a validation error that is also a
``FileNotFoundError``) and ``UploadGoneError`` (a service error naming the upload that is gone); both survive
pickling (a cluster worker's error is raised again on the caller)."""

from __future__ import annotations

import errno
import pickle

import pytest

from cos_multipart import CosError, CosServiceError, CosValidationError, SourceNotFoundError, UploadGoneError
from cos_multipart._core._decisions import gone_error, upload_is_gone
from cos_multipart._io._sources import open_source
from cos_multipart._protocol.errors import kept_upload_of
from cos_multipart._core.session import UploadSession
from cos_multipart._core.planner import plan_parts


def test_a_missing_source_is_both_kinds_of_error_and_pickles() -> None:
    with pytest.raises(SourceNotFoundError) as excinfo:
        open_source("/no/such/dir/file.bin")
    error = excinfo.value
    for kind in (CosError, CosValidationError, ValueError, FileNotFoundError, OSError):
        assert isinstance(error, kind)
    assert (error.errno, error.filename, error.field) == (errno.ENOENT, "/no/such/dir/file.bin", "source")
    assert str(error) == "invalid source='/no/such/dir/file.bin': no such file or directory; give the path of an existing regular file"
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is SourceNotFoundError and str(again) == str(error) and again.filename == error.filename


def answer(code: str = "NoSuchUpload") -> CosServiceError:
    return CosServiceError(404, code, "The specified upload does not exist.", request_id="rid-1", method="PUT", url="http://h/k")


def session() -> UploadSession:
    return UploadSession("http://h", "bucket-1", "dir/k.bin", "upload-7", plan_parts(10, None), service="oss")


def test_no_such_upload_during_a_run_is_upload_gone() -> None:
    gone = gone_error(answer(), session())
    assert isinstance(gone, UploadGoneError) and isinstance(gone, CosServiceError)
    assert (gone.status, gone.code, gone.request_id, gone.upload_id, gone.key) == (404, "NoSuchUpload", "rid-1", "upload-7", "dir/k.bin")
    assert str(gone) == "upload upload-7 of oss://bucket-1/dir/k.bin was aborted elsewhere (NoSuchUpload); nothing kept [request id rid-1]"
    assert kept_upload_of(gone) is None
    again = pickle.loads(pickle.dumps(gone))
    assert type(again) is UploadGoneError and str(again) == str(gone) and again.upload_id == "upload-7"
    assert gone_error(gone, session()) is gone


@pytest.mark.parametrize("error", [answer("NoSuchKey"), answer("AccessDenied"), ValueError("x")])
def test_other_errors_are_not_upload_gone(error: BaseException) -> None:
    assert gone_error(error, session()) is None and not upload_is_gone(error)
