"""Presigned multipart uploads (issue 26) against the local server over real sockets, both services: the parts
PUT with plain ``requests`` to their pre-signed URLs, the completion verified; every wrong part caught, nothing
completed wrongly, no secret in a URL or a state."""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator, List, Tuple

import pytest
import requests

from cos_multipart import CosClient, CosIntegrityError, CosServiceError, CosValidationError, crc64
from cos_multipart._drivers.presigned import PresignedUploads
from cos_multipart._protocol.credentials import Credentials
from cos_multipart._protocol.errors import PresignedPartsError
from cos_multipart._core.presigned import PresignedUpload
from cos_multipart.testing import LocalCOS

from presigned_helpers import AsyncioPresigned, data_of, put_part, send_parts
from uploads import Driver

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]

TOKEN = "PresignedStsToken-0123456789"
STS = Credentials("AKIDPRESIGNEDSTSKEY00000000000000000", "PresignedStsSecretKey0000000000000", token=TOKEN)


class Clock:
    """One Unix time for the server and the client, moved forward by the test (never waited for)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def server(local_cos_factory: Callable[..., LocalCOS], dialect: str, clock: Clock) -> LocalCOS:
    return local_cos_factory(dialect=dialect, credentials=STS, clock=clock)


@pytest.fixture()
def cos_client(server: LocalCOS, clock: Clock) -> Iterator[CosClient]:
    with server.client(clock=clock) as made:
        yield made


@pytest.fixture()
def uploads(cos_client: CosClient, clock: Clock, driver: Driver) -> PresignedUploads:
    """The threaded driver's class, or the asyncio one's behind the same interface."""
    if driver.name == "asyncio":
        return AsyncioPresigned(cos_client, clock)  # type: ignore[return-value]
    return PresignedUploads(cos_client, clock=clock)


def sizes(client: CosClient) -> Tuple[int, int]:
    """(part size, object size): the service's smallest part, two and a half parts."""
    part = client.dialect.min_part_size
    return part, part * 2 + part // 2


def no_secret(*texts: str) -> None:
    for text in texts:
        assert STS.secret_key not in text


def gone(client: CosClient, key: str) -> bool:
    return client.find_object(key) is None


def test_round_trip(uploads: PresignedUploads, cos_client: CosClient) -> None:
    part, size = sizes(cos_client)
    data = data_of(size)
    state, urls = uploads.start("dir/video.bin", size=size, part_size=part, options=None)
    assert [url.number for url in urls] == [1, 2, 3] and urls[-1].size == size - 2 * part
    document = state.dumps()
    no_secret(document, *(url.url for url in urls), repr(state), repr(urls))
    assert TOKEN not in document  # the token is in the URLs (signed), never in the state
    assert all(TOKEN in url.url for url in urls)
    assert TOKEN not in repr(urls) and "q-signature" not in repr(urls) and "x-oss-signature" not in repr(urls)
    reports = send_parts(urls, data)
    result = uploads.complete(PresignedUpload.from_json(document), reports)
    assert result.crc64 == crc64(data) and result.crc64_verified and result.size == size and result.parts == 3
    assert cos_client.get_object("dir/video.bin").read() == data


def test_round_trip_without_reports_checks_sizes(uploads: PresignedUploads, cos_client: CosClient) -> None:
    part, size = sizes(cos_client)
    data = data_of(size)
    state, urls = uploads.start("plain.bin", size=size, part_size=part)
    send_parts(urls, data)
    result = uploads.complete(state)
    assert result.crc64 == crc64(data)
    # OSS lists each part's CRC-64, so the object's is predicted from the service alone; COS lists none.
    assert result.crc64_verified == (cos_client.dialect.name == "oss")


def test_missing_part_is_named_and_kept_for_a_retry(uploads: PresignedUploads, cos_client: CosClient) -> None:
    part, size = sizes(cos_client)
    data = data_of(size)
    state, urls = uploads.start("missing.bin", size=size, part_size=part)
    reports = send_parts(urls, data, skip=[2])
    with pytest.raises(PresignedPartsError) as caught:
        uploads.complete(state, reports)
    assert caught.value.problems == ((2, "missing", part, None),) and not caught.value.aborted
    assert gone(cos_client, "missing.bin")
    assert any(upload.upload_id == state.upload_id for upload in cos_client.list_multipart_uploads(prefix="missing"))
    reports += send_parts(uploads.urls(state, [2]), data)
    assert uploads.complete(state, reports).crc64 == crc64(data)


def test_wrong_size_part(uploads: PresignedUploads, cos_client: CosClient) -> None:
    part, size = sizes(cos_client)
    data = data_of(size)
    state, urls = uploads.start("short.bin", size=size, part_size=part)
    short = data[part * 2 : size - 1]
    reports = send_parts(urls, data, bodies={3: short})
    with pytest.raises(PresignedPartsError) as caught:
        uploads.complete(state, reports, abort_on_mismatch=True)
    assert caught.value.problems == ((3, "size", size - 2 * part, len(short)),) and caught.value.aborted
    assert gone(cos_client, "short.bin")
    assert not list(cos_client.list_multipart_uploads(prefix="short"))


def test_extra_part(uploads: PresignedUploads, cos_client: CosClient, server: LocalCOS, clock: Clock) -> None:
    part, size = sizes(cos_client)
    data = data_of(size)
    state, urls = uploads.start("extra.bin", size=size, part_size=part)
    reports = send_parts(urls, data)
    url, headers = cos_client.presign_part("extra.bin", state.upload_id, 4, expires=60)
    assert requests.put(url, data=b"x" * 10, headers=headers, timeout=30).status_code == 200
    with pytest.raises(PresignedPartsError) as caught:
        uploads.complete(state, reports)
    assert caught.value.problems == ((4, "extra", None, 10),)
    assert gone(cos_client, "extra.bin")


def test_part_replaced_after_its_crc_was_reported(uploads: PresignedUploads, cos_client: CosClient) -> None:
    part, size = sizes(cos_client)
    data = data_of(size)
    state, urls = uploads.start("replaced.bin", size=size, part_size=part)
    reports = send_parts(urls, data)
    other = data_of(part, seed=3)
    assert put_part(urls[1], other).status_code == 200  # part 2 sent again, other bytes, after the report
    with pytest.raises(PresignedPartsError) as caught:
        uploads.complete(state, reports)
    assert [problem[:2] for problem in caught.value.problems][0] == (2, "etag")
    assert {problem[0] for problem in caught.value.problems} == {2}
    assert gone(cos_client, "replaced.bin")


def test_wrong_crc_report_never_completes_a_wrong_object(uploads: PresignedUploads, cos_client: CosClient) -> None:
    """A client reports CRCs only (no ETag) and its part 2 arrived other than it computed: OSS's listing names the
    part; on COS the combined CRC catches the object after Complete, and the wrong object is deleted."""
    part, size = sizes(cos_client)
    data = data_of(size)
    state, urls = uploads.start("crc.bin", size=size, part_size=part)
    reports = send_parts(urls, data)
    reports[1] = {"part": 2, "crc64": str(crc64(data_of(part, seed=3)))}
    if cos_client.dialect.name == "oss":
        with pytest.raises(PresignedPartsError) as caught:
            uploads.complete(state, reports)
        assert caught.value.problems[0][:2] == (2, "crc64")
    else:
        with pytest.raises(CosIntegrityError) as integrity:
            uploads.complete(state, reports)
        assert integrity.value.what == "crc64" and "deleted" in integrity.value.outcome
    assert gone(cos_client, "crc.bin")


def test_expired_url_is_refused_and_fresh_urls_work(uploads: PresignedUploads, cos_client: CosClient, clock: Clock) -> None:
    part, size = sizes(cos_client)
    data = data_of(size)
    state, urls = uploads.start("late.bin", size=size, part_size=part, expires=60)
    reports = send_parts(urls[:1], data)
    clock.now += 120
    answer = put_part(urls[1], data[urls[1].offset : urls[1].offset + urls[1].size])
    assert answer.status_code == 403 and "expired" in answer.text.lower()
    reports += send_parts(uploads.urls(state, [2, 3], expires=60), data)
    assert uploads.complete(state, reports).crc64 == crc64(data)


def test_content_md5_lets_the_service_refuse_a_damaged_part(uploads: PresignedUploads, cos_client: CosClient) -> None:
    import base64
    import hashlib

    part, size = sizes(cos_client)
    data = data_of(size)
    md5s = [base64.b64encode(hashlib.md5(data[i : i + part]).digest()).decode() for i in range(0, size, part)]
    state, urls = uploads.start("md5.bin", size=size, part_size=part, part_md5s=md5s)
    assert all(url.headers["Content-MD5"] == md5 for url, md5 in zip(urls, md5s))
    damaged = bytearray(data[:part])
    damaged[5] ^= 1
    assert put_part(urls[0], bytes(damaged)).status_code == 400
    other_md5 = {"Content-MD5": md5s[1]}  # a signed header cannot be changed either
    assert put_part(urls[0], data[:part], other_md5).status_code == 403
    reports = send_parts(urls, data)
    assert uploads.complete(state, reports).crc64 == crc64(data)


def test_bad_arguments_are_refused_before_any_request(uploads: PresignedUploads, cos_client: CosClient) -> None:
    part, size = sizes(cos_client)
    cases: List[Tuple[dict[str, Any], str]] = [
        ({"size": -1}, "size"),
        ({"size": size, "part_size": part - 1}, "part_size"),
        ({"size": size, "expires": 0}, "expires"),
        ({"size": size, "part_md5s": ["x"]}, "part_md5s"),
    ]
    for arguments, field in cases:
        with pytest.raises(CosValidationError) as caught:
            uploads.start("bad.bin", **arguments)
        assert caught.value.field.split("[")[0] == field
    assert not list(cos_client.list_multipart_uploads())


def test_abort_abandoned_and_older_than(uploads: PresignedUploads, cos_client: CosClient, clock: Clock) -> None:
    part, size = sizes(cos_client)
    old, _ = uploads.start("old.bin", size=size, part_size=part, expires=60, abandon_after=600)
    clock.now += 601
    new, _ = uploads.start("new.bin", size=size, part_size=part, expires=60, abandon_after=600)
    assert uploads.abort_abandoned([old, new]) == [old]
    assert [upload.key for upload in cos_client.list_multipart_uploads()] == ["new.bin"]
    assert uploads.abort(old) is False  # already gone
    lost, _ = uploads.start("lost.bin", size=size, part_size=part)
    clock.now += 10
    assert uploads.abort_older_than(5) == [("lost.bin", lost.upload_id), ("new.bin", new.upload_id)]
    assert not list(cos_client.list_multipart_uploads())


def test_state_of_another_bucket_is_refused(uploads: PresignedUploads, cos_client: CosClient) -> None:
    part, size = sizes(cos_client)
    state, _ = uploads.start("a.bin", size=size, part_size=part)
    document = state.to_json() | {"bucket": "other-1250000000"}
    with pytest.raises(CosValidationError):
        uploads.complete(PresignedUpload.from_json(document))
    with pytest.raises(CosServiceError):
        cos_client.head_object("a.bin")


def test_empty_object(uploads: PresignedUploads, cos_client: CosClient) -> None:
    state, urls = uploads.start("empty.bin", size=0)
    assert [(url.number, url.size) for url in urls] == [(1, 0)]
    reports = send_parts(urls, b"")
    result = uploads.complete(state, reports)
    assert result.size == 0 and result.crc64 == 0 and result.crc64_verified
    assert cos_client.get_object("empty.bin").read() == b""


def test_require_crc64_refuses_unreported_parts(uploads: PresignedUploads, cos_client: CosClient) -> None:
    part, size = sizes(cos_client)
    data = data_of(size)
    state, urls = uploads.start("strict.bin", size=size, part_size=part)
    reports = send_parts(urls, data)
    if cos_client.dialect.name == "cos":  # COS lists no part CRCs: the reports are all there is
        with pytest.raises(PresignedPartsError) as caught:
            uploads.complete(state, reports[:1], require_crc64=True)
        assert caught.value.problems == ((2, "unreported", None, None), (3, "unreported", None, None))
        assert gone(cos_client, "strict.bin")
    result = uploads.complete(state, reports[:1], require_crc64=True) if cos_client.dialect.name == "oss" else uploads.complete(state, reports, require_crc64=True)
    assert result.crc64_verified and result.crc64 == crc64(data)


def test_an_abandoned_upload_is_listed_by_the_command_line(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str], driver: Driver) -> None:
    """``cos-multipart uploads`` shows a presigned upload nobody finished; ``abort_older_than`` removes it."""
    from cos_multipart._cli import main as cli

    from uploads import target

    with cli_env.client() as client:
        uploads = PresignedUploads(client) if driver.name == "threads" else AsyncioPresigned(client, time.time)
        state, _ = uploads.start("left/behind.bin", size=10)
        assert cli.main(["uploads", "--json", target(cli_env, "left/")]) == 0
        assert state.upload_id in capsys.readouterr().out
        assert uploads.abort_older_than(0, prefix="left/") == [("left/behind.bin", state.upload_id)]
        assert cli.main(["uploads", "--json", target(cli_env, "left/")]) == 0
        assert state.upload_id not in capsys.readouterr().out


def test_forbid_overwrite_keeps_the_existing_object(uploads: PresignedUploads, cos_client: CosClient) -> None:
    from cos_multipart import ObjectExistsError

    part, size = sizes(cos_client)
    data = data_of(size)
    cos_client.put_object("taken.bin", b"first")
    state, urls = uploads.start("taken.bin", size=size, part_size=part)
    reports = send_parts(urls, data)
    with pytest.raises(ObjectExistsError):
        uploads.complete(state, reports, forbid_overwrite=True)
    assert cos_client.get_object("taken.bin").read() == b"first"
    assert uploads.complete(state, reports).crc64 == crc64(data)


def test_start_leaves_no_upload_when_signing_fails(server: LocalCOS, clock: Clock, driver: Driver) -> None:
    """The credentials provider fails after Initiate (an STS refresh that fails once): the upload is aborted."""
    from cos_multipart import CosCredentialsError

    calls: List[int] = []

    def provider() -> Credentials:
        calls.append(1)
        if len(calls) == 3:  # Initiate went through, the first URL too; the second one's signing fails, once
            raise CosCredentialsError("the STS service is down")
        return STS

    with server.client(credentials=provider, clock=clock) as client:
        uploads = PresignedUploads(client, clock=clock) if driver.name == "threads" else AsyncioPresigned(client, clock, credentials=provider)
        part, size = sizes(client)
        with pytest.raises(CosCredentialsError):
            uploads.start("orphan.bin", size=size, part_size=part)
    with server.client() as plain:
        assert not list(plain.list_multipart_uploads())


def test_part_endpoint_is_checked_when_made(cos_client: CosClient) -> None:
    with pytest.raises(CosValidationError) as caught:
        PresignedUploads(cos_client, part_endpoint="ftp://somewhere")
    assert caught.value.field == "part_endpoint"
    made = PresignedUploads(cos_client, part_endpoint=f"https://{cos_client.bucket}.example.com")
    assert made.part_endpoint == f"https://{cos_client.bucket}.example.com"
