"""ObjectOptions: public, frozen, hashable, validated when made; the client's keyword options are sugar."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any, Dict

import pytest

import cos_multipart
from cos_multipart._protocol import operations
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.credentials import Credentials
from cos_multipart._protocol.errors import CosValidationError
from cos_multipart._protocol.options import OPTION_NAMES, FrozenMapping, ObjectOptions
from cos_multipart._protocol.sse import SseC, SseKms

from scripted_http import Recorded, ScriptedServer

RAW_KEY = b"0123456789ABCDEF0123456789ABCDEF"


def test_public_and_still_importable_from_operations() -> None:
    assert cos_multipart.ObjectOptions is ObjectOptions is operations.ObjectOptions
    assert "ObjectOptions" in cos_multipart.__all__
    assert len(OPTION_NAMES) == 14


def test_frozen_and_hashable_with_mappings() -> None:
    options = ObjectOptions(metadata={"a": "1"}, tagging={"t": "v"}, encryption=SseKms("kid", context={"app": "x"}))
    assert hash(options) == hash(ObjectOptions(metadata={"a": "1"}, tagging={"t": "v"}, encryption=SseKms("kid", context={"app": "x"})))
    assert options == ObjectOptions(metadata={"a": "1"}, tagging={"t": "v"}, encryption=SseKms("kid", context={"app": "x"}))
    assert len({options, ObjectOptions(metadata={"a": "1"}, tagging={"t": "v"}, encryption=SseKms("kid", context={"app": "x"}))}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.acl = "private"  # type: ignore[misc]
    assert isinstance(options.metadata, FrozenMapping) and options.metadata == {"a": "1"}
    with pytest.raises(TypeError):
        options.metadata["b"] = "2"  # type: ignore[index]
    assert pickle.loads(pickle.dumps(options)) == options


def test_a_later_change_of_the_callers_dict_cannot_bypass_validation() -> None:
    metadata = {"ok": "1"}
    tags = {"k": "v"}
    options = ObjectOptions(metadata=metadata, tagging=tags)
    metadata["bad_name"] = "x"  # '_' is not allowed in a metadata name
    tags.update({f"t{n}": "v" for n in range(20)})  # more than 10 tags
    assert dict(options.headers()) == {"Content-Type": "application/octet-stream", "x-cos-meta-ok": "1", "x-cos-tagging": "k=v"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"acl": "public"}, "acl"),
        ({"storage_class": "COLDEST"}, "storage_class"),
        ({"grant_read": "everyone"}, "grant_read"),
        ({"content_type": "a\r\nb"}, "content_type"),
        ({"metadata": {"bad_name": "x"}}, "metadata name"),
        ({"tagging": "no-equals"}, "tagging"),
        ({"encryption": "AES256"}, "encryption"),
    ],
)
def test_validated_at_construction(kwargs: Dict[str, Any], field: str) -> None:
    with pytest.raises(CosValidationError) as excinfo:
        ObjectOptions(**kwargs)
    assert excinfo.value.field == field


def test_encryption_is_coerced_and_its_repr_redacts_the_key() -> None:
    options = ObjectOptions(encryption=SseC(RAW_KEY))
    key = SseC(RAW_KEY).headers()["x-cos-server-side-encryption-customer-key"]
    for text in (repr(options), str(options)):
        assert key not in text and RAW_KEY.decode() not in text and "<redacted>" in text
    raw = ObjectOptions(encryption=SseC(RAW_KEY).headers())
    assert isinstance(raw.encryption, SseC) and raw == options and key not in repr(raw)
    assert options.sse == SseC(RAW_KEY)


INITIATED = b"<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>"


def make_client(base: str) -> CosClient:
    return CosClient("examplebucket-1250000000", "ap-guangzhou", Credentials("AKIDx", "secret"), endpoint=base)


def sent_headers(request: Recorded) -> Dict[str, str]:
    return {name: value for name, value in request.headers.raw if name.lower() not in ("authorization", "content-length")}


def test_client_takes_options_or_keywords_the_same_way(scripted: ScriptedServer) -> None:
    options = ObjectOptions(content_type="video/mp4", metadata={"m": "v"}, acl="private", encryption=SseC(RAW_KEY))
    keywords: Dict[str, Any] = {"content_type": "video/mp4", "metadata": {"m": "v"}, "acl": "private", "encryption": SseC(RAW_KEY)}
    with make_client(scripted.base_url) as client:
        scripted.add("POST", "/k?uploads", body=INITIATED)
        scripted.add("PUT", "/k", headers={"ETag": '"e"'})
        client.initiate_multipart_upload("k", options=options)
        client.initiate_multipart_upload("k", **keywords)
        client.put_object("k", b"abc", options=options)
        client.put_object("k", b"abc", **keywords)
        first, second, third, fourth = (sent_headers(request) for request in scripted.requests)
    assert first == second and third == fourth and first["x-cos-acl"] == "private"
    assert scripted.requests[2].body == scripted.requests[3].body == b"abc"


def test_client_refuses_options_and_a_keyword_option_together(scripted: ScriptedServer) -> None:
    client = make_client(scripted.base_url)  # no rules: a request would fail the test at teardown
    with pytest.raises(CosValidationError) as excinfo:
        client.initiate_multipart_upload("k", options=ObjectOptions(), acl="private")
    assert excinfo.value.field == "acl" and "not both" in str(excinfo.value)
    with pytest.raises(CosValidationError):
        client.put_object("k", b"x", options=ObjectOptions(), encryption=SseC(RAW_KEY))
    with pytest.raises(CosValidationError) as excinfo:
        client.put_object("k", b"x", options={"acl": "private"})  # type: ignore[arg-type]
    assert excinfo.value.field == "options"
    client.close()
    assert scripted.requests == []


def test_every_option_is_a_keyword_of_the_client() -> None:
    import inspect

    for method in (CosClient.initiate_multipart_upload, CosClient.put_object):
        parameters = inspect.signature(method).parameters
        assert all(parameters[name].kind is inspect.Parameter.KEYWORD_ONLY for name in OPTION_NAMES)
        assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def test_frozen_mapping() -> None:
    frozen = FrozenMapping({"b": "2", "a": "1"})
    assert list(frozen) == ["b", "a"] and frozen == {"a": "1", "b": "2"} and hash(frozen) == hash(FrozenMapping({"a": "1", "b": "2"}))
    assert repr(frozen) == "FrozenMapping({'b': '2', 'a': '1'})"
    assert pickle.loads(pickle.dumps(frozen)) == frozen
