"""Fault descriptions, the command-line syntax and the controller's counting."""

from __future__ import annotations

from typing import Any, List

import threading

import pytest

from cos_multipart._protocol.errors import CosValidationError
from cos_multipart.testing import Fault, FaultController


def test_error_defaults_code_from_status() -> None:
    assert Fault.error("UploadPart", status=503).code == "SlowDown"
    assert Fault.error(status=500).code == "InternalError"
    assert Fault.error(status=400).code == "RequestTimeout"
    assert Fault.error(status=403).code == "RequestTimeTooSkewed"
    assert Fault.error(status=503, code="ServiceUnavailable").code == "ServiceUnavailable"
    assert "reduce" in Fault.error(status=503).error_message


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("error:api=UploadPart,nth=2,status=503", Fault.error("UploadPart", status=503, nth=2)),
        ("error:api=UploadPart,rate=0.25,seed=7", Fault.error("UploadPart", rate=0.25, seed=7)),
        ("error:status=400,count=all", Fault.error(status=400, count=None)),
        ("reset:api=UploadPart,after_bytes=65536", Fault.reset("UploadPart", after_bytes=65536)),
        ("delay:seconds=1.5", Fault.delay(1.5)),
        ("wrong_etag:api=UploadPart", Fault.wrong_etag()),
        ("wrong_crc64:api=CompleteMultipartUpload,nth=1", Fault.wrong_crc64("CompleteMultipartUpload")),
    ],
)
def test_parse(spec: str, expected: Fault) -> None:
    assert Fault.parse(spec) == expected


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ("explode", "kind"),
        ("error:api=Upload", "api"),
        ("error:nth=0", "nth"),
        ("error:rate=1.5", "rate"),
        ("error:status=99", "status"),
        ("error:colour=red", "fault"),
        ("error:nth", "fault"),
        ("error:nth=two", "fault"),
        ("delay:seconds=-1", "seconds"),
    ],
)
def test_parse_rejects_with_the_field_named(spec: str, field: str) -> None:
    with pytest.raises(CosValidationError) as excinfo:
        Fault.parse(spec)
    assert excinfo.value.field == field


def test_nth_and_count_from_installation() -> None:
    controller = FaultController()
    controller.plan("UploadPart")  # before installation: not counted by the fault
    controller.add(Fault.error("UploadPart", status=503, nth=2, count=2))
    fired = [controller.plan("UploadPart").error is not None for _ in range(5)]
    assert fired == [False, True, True, False, False]
    assert controller.plan("ListParts").error is None
    assert [(item.api, item.request_number) for item in controller.fired] == [("UploadPart", 3), ("UploadPart", 4)]
    assert controller.requests_seen("UploadPart") == 6 and controller.requests_seen() == 7


def test_rate_is_reproducible_with_a_seed() -> None:
    def pattern(seed: int) -> List[Any]:
        controller = FaultController([Fault.error("UploadPart", rate=0.3, seed=seed)])
        return [controller.plan("UploadPart").error is not None for _ in range(200)]

    first = pattern(11)
    assert first == pattern(11)
    assert first != pattern(12)
    assert 30 <= sum(first) <= 90


def test_plans_merge_kinds_and_remove_clear() -> None:
    error = Fault.error(status=500, count=None)
    controller = FaultController([Fault.delay(0.5, count=None), Fault.delay(0.25, count=None), error,
                                  Fault.wrong_crc64(None, count=None), Fault.reset(after_bytes=10, count=None)])
    plan = controller.plan("GetObject")
    assert (plan.delay, plan.error, plan.wrong_crc64, plan.reset_after, plan.wrong_etag) == (0.75, error, True, 10, False)
    controller.remove(error)
    assert controller.plan("GetObject").error is None
    controller.set_bandwidth(1000)
    controller.set_latency(0.1)
    controller.clear()
    assert controller.plan("GetObject").is_clean and controller.bandwidth is None and controller.latency == 0


def test_conditions_are_validated() -> None:
    controller = FaultController()
    with pytest.raises(CosValidationError):
        controller.set_bandwidth(0)
    with pytest.raises(CosValidationError):
        controller.set_latency(-1)


def test_counting_is_thread_safe() -> None:
    controller = FaultController([Fault.error("UploadPart", nth=50, count=1)])
    hits = []

    def worker() -> None:
        for _ in range(25):
            if controller.plan("UploadPart").error is not None:
                hits.append(1)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(hits) == 1 and controller.requests_seen("UploadPart") == 100
