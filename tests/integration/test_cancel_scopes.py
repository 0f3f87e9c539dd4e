"""Scoped cancellation over real sockets: aborting one ``cancel`` scope leaves the other requests of the
same client alone (hole 5 of issue 8, transport half)."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import Callable, List

import pytest

from cos_multipart._io.client import CosClient
from cos_multipart._protocol.errors import CosCancelledError
from cos_multipart._protocol.limits import MB
from cos_multipart._protocol.retry import RetryPolicy
from cos_multipart.testing import Fault, LocalCOS

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]

BODY = b"s" * MB


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:  # the bound ends a broken run
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def warm_pool(cos: LocalCOS, client: CosClient) -> None:
    """Two idle keep-alive connections, so the requests of the test run on reused ones, not fresh ones."""
    # The bucket first, alone: LocalCOS creating a bucket for two requests at once can lose one's body.
    client.put_object("warm-0", b"warm")
    overlap = cos.faults.add(Fault.delay(0.3, "PutObject", count=2))  # two at once: two connections
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda name: client.put_object(name, b"warm"), ["warm-1", "warm-2"]))
    cos.faults.remove(overlap)


@pytest.mark.parametrize("retry", [RetryPolicy(), RetryPolicy.never()], ids=["default-retry", "no-retry"])
def test_aborting_one_scope_leaves_the_other_in_flight_request_alone(local_cos: LocalCOS, retry: RetryPolicy) -> None:
    with local_cos.client(retry=retry) as client:
        warm_pool(local_cos, client)
        upload = client.initiate_multipart_upload("a")
        local_cos.faults.add(Fault.delay(30.0, "UploadPart"))  # scope A waits for an answer that is far away
        local_cos.faults.add(Fault.delay(1.0, "PutObject"))  # scope B is slow, but answers
        scope_a, scope_b = threading.Event(), threading.Event()
        failures: List[BaseException] = []

        def part_a() -> None:
            try:
                client.upload_part("a", upload.upload_id, 1, BODY, cancel=scope_a)
            except BaseException as error:  # noqa: BLE001 - the outcome is what the test checks
                failures.append(error)

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            future_b = pool.submit(client.put_object, "b", BODY, cancel=scope_b)
            thread_a = threading.Thread(target=part_a)
            thread_a.start()
            wait_until(lambda: local_cos.faults.requests_seen("UploadPart") == 1)
            wait_until(lambda: local_cos.faults.requests_seen("PutObject") == 4)  # 3 warm-up + B
            time.sleep(0.1)  # both requests are now waiting for their answers
            scope_a.set()
            assert client.abort_connections(cancel=scope_a) == 1  # A's connection, and only it
            thread_a.join(timeout=25)  # ends a broken run before A's held answer (30 s) would come
            # A ended while the server still held its answer: the abort, not an answer or a timeout, ended it.
            assert not thread_a.is_alive() and local_cos.log_entries("UploadPart", settle=0) == []
            assert len(failures) == 1 and isinstance(failures[0], CosCancelledError)
            result_b = future_b.result(timeout=10)
        assert result_b.size == MB and not scope_b.is_set()
    # A's request is still held by the server, so the log never settles: read it without waiting (settle=0),
    # once B's answer is logged (the server logs after answering).
    wait_until(lambda: any(entry.path == "/b" for entry in local_cos.log_entries("PutObject", settle=0)))
    puts_of_b = [entry for entry in local_cos.log_entries("PutObject", settle=0) if entry.path == "/b"]
    assert [entry.status for entry in puts_of_b] == [200]  # one attempt: its connection was never touched
    assert len(local_cos.log_entries("UploadPart", settle=0)) <= 1


def test_abort_without_a_scope_still_shuts_every_connection(local_cos: LocalCOS) -> None:
    with local_cos.client(retry=RetryPolicy.never()) as client:
        warm_pool(local_cos, client)
        assert client.abort_connections() == 2  # the two idle keep-alive connections
        assert client.put_object("after", b"x").size == 1  # an idle connection shut down is reopened


def test_a_scope_with_nothing_in_flight_shuts_nothing(local_cos: LocalCOS) -> None:
    with local_cos.client() as client:
        scope = threading.Event()
        client.put_object("k", b"x", cancel=scope)  # finished: its connection is idle, out of the scope
        scope.set()
        assert client.abort_connections(cancel=scope) == 0
        assert client.put_object("k2", b"y").size == 1
