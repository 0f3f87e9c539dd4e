"""The sync and async clients cannot drift: same public methods, parameters and results, all from one table.

``CosClient`` and ``AsyncCosClient`` are compared member by member (names, parameter names, kinds, defaults,
annotations, return types), with the few differences asyncio requires named here, each with its reason:
threading's ``Event`` is asyncio's, a sync iterator is an async iterator, a sync body is an async body,
a result is awaited. Both are checked against the table of operations (``cos_multipart._io._api.OPERATIONS``):
every API method is in the table, delegates to it, and returns the table's result type in the table's shape.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import typing
from typing import Any, AsyncIterator, Callable, Dict, Iterator, Optional, Set, Tuple

import pytest

from cos_multipart._io import _api
from cos_multipart._io._streams import AsyncObjectStream, ObjectStream
from cos_multipart._io._transports import AsyncHttpTransport, HttpTransport
from cos_multipart.aio import AsyncCosClient, AsyncTransport
from cos_multipart._io.client import CosClient
from cos_multipart._io.transport import Transport

#: Members only one side has, and why.
SYNC_ONLY = {
    # asyncio stops a request by cancelling the task that awaits it (its connection is closed then); there
    # is no connection blocked in another thread to shut down (docs/async.md).
    "abort_connections",
}
ASYNC_ONLY: Set[str] = set()
#: What is not an API call: URLs and the client's own lifecycle (everything else must be in the table).
NOT_IN_TABLE = {"object_url", "presign", "presign_part", "transport", "with_transport", "ensure_pool_size", "abort_connections", "close"}
#: The async twin of each type a sync signature names.
TWINS: Dict[Any, Any] = {
    threading.Event: asyncio.Event,
    HttpTransport: AsyncHttpTransport,
    ObjectStream: AsyncObjectStream,
    CosClient: AsyncCosClient,
}
#: Sync-only conveniences of the sync stream (the names ``requests.Response`` had) and the async one's.
STREAM_COMPAT = {"status_code", "content", "iter_content"}
ASYNC_STREAM_COMPAT = {"release"}


def public(cls: type) -> Dict[str, Any]:
    return {name: member for name, member in vars(cls).items() if not name.startswith("_")}


def as_async(hint: Any) -> Any:
    """The type the async side must name where the sync side names ``hint``."""
    if hint in TWINS:
        return TWINS[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is None or not args:
        return hint
    if origin in (Iterator, typing.get_origin(Iterator[int])):
        return typing.cast(Any, AsyncIterator)[as_async(args[0])]
    if origin is typing.Union:
        return typing.Union[tuple(as_async(arg) for arg in args)]
    return hint


def hints(function: Callable[..., Any]) -> Dict[str, Any]:
    return typing.get_type_hints(function)


def test_both_clients_have_the_same_public_members() -> None:
    sync_names, async_names = set(public(CosClient)), set(public(AsyncCosClient))
    assert sync_names - async_names == SYNC_ONLY
    assert async_names - sync_names == ASYNC_ONLY


@pytest.mark.parametrize("name", sorted(set(public(CosClient)) - SYNC_ONLY - {"transport"}))
def test_each_method_has_the_same_parameters_and_result(name: str) -> None:
    sync, asynchronous = getattr(CosClient, name), getattr(AsyncCosClient, name)
    ours, theirs = inspect.signature(sync), inspect.signature(asynchronous)
    assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == [
        (p.name, p.kind, p.default) for p in theirs.parameters.values()
    ]
    sync_hints, async_hints = hints(sync), hints(asynchronous)
    for parameter in ours.parameters.values():
        if parameter.name != "self":
            assert as_async(sync_hints[parameter.name]) == async_hints[parameter.name], parameter.name
    assert as_async(sync_hints["return"]) == async_hints["return"]
    # Options are keyword-only on both: nothing after the key, the upload and the body is positional.
    positional = [p.name for p in ours.parameters.values() if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert set(positional) <= {"self", "key", "upload_id", "part_number", "body", "parts", "keys", "prefix", "method", "expires", "size", "transport"}
    # What returns an iterator hands out an async iterator (a plain method); every other call is awaited,
    # but for the few that send nothing.
    returns_iterator = typing.get_origin(sync_hints["return"]) is not None and as_async(sync_hints["return"]) != sync_hints["return"] and typing.get_origin(async_hints["return"]) is typing.get_origin(AsyncIterator[int])
    sends_nothing = name in {"object_url", "ensure_pool_size", "with_transport"}
    assert inspect.iscoroutinefunction(asynchronous) is not (returns_iterator or sends_nothing)
    assert not inspect.iscoroutinefunction(sync)


def test_the_transport_property_names_the_protocols() -> None:
    sync = typing.get_type_hints(CosClient.transport.fget)  # type: ignore[attr-defined]
    asynchronous = typing.get_type_hints(AsyncCosClient.transport.fget)  # type: ignore[attr-defined]
    assert (sync["return"], asynchronous["return"]) == (HttpTransport, AsyncHttpTransport)


def shape_of(operation: _api.Operation) -> Tuple[Any, Any]:
    """The return types the table says the sync and async methods have."""
    result = operation.result
    if operation.shape == _api.ITEMS:
        return Iterator[result], AsyncIterator[result]  # type: ignore[valid-type]
    if operation.shape == _api.OPTIONAL:
        return Optional[result], Optional[result]
    return result, as_async(result)


@pytest.mark.parametrize("operation", _api.OPERATIONS, ids=lambda operation: operation.method)
def test_every_operation_of_the_table_is_a_method_of_both_clients(operation: _api.Operation) -> None:
    sync, asynchronous = getattr(CosClient, operation.method), getattr(AsyncCosClient, operation.method)
    assert (hints(sync)["return"], hints(asynchronous)["return"]) == shape_of(operation)
    for method in (sync, asynchronous):  # a thin delegation to the table's steps, not a sequence of its own
        assert "_api." in inspect.getsource(method), method
    assert operation.prepare.__name__.startswith("prepare_") and operation.parse.__name__.startswith("parse_")


def test_every_method_that_sends_a_request_is_in_the_table() -> None:
    in_table = {operation.method for operation in _api.OPERATIONS}
    assert len(in_table) == len(_api.OPERATIONS)
    assert set(public(CosClient)) - NOT_IN_TABLE == in_table


def test_the_two_streamed_bodies_offer_the_same_members() -> None:
    sync, asynchronous = set(public(ObjectStream)), set(public(AsyncObjectStream))
    assert sync - asynchronous == STREAM_COMPAT and asynchronous - sync == ASYNC_STREAM_COMPAT
    for name in sync & asynchronous:
        ours, theirs = getattr(ObjectStream, name), getattr(AsyncObjectStream, name)
        if isinstance(ours, property):
            assert typing.get_type_hints(ours.fget)["return"] == typing.get_type_hints(theirs.fget)["return"]
            continue
        assert str(inspect.signature(ours)) == str(inspect.signature(theirs)).replace("AsyncIterator", "Iterator")
        assert inspect.iscoroutinefunction(theirs) is (name in {"read", "readinto", "close"})


def conforms(sync: Transport, asynchronous: AsyncTransport) -> Tuple[HttpTransport, AsyncHttpTransport]:
    """Never called: mypy checks that the default transports are the protocols' (a member that drifts fails)."""
    return sync, asynchronous


def test_the_two_transport_protocols_ask_for_the_same_members() -> None:
    members = {name for name in vars(HttpTransport) if not name.startswith("_")}
    async_members = {name for name in vars(AsyncHttpTransport) if not name.startswith("_")}
    assert members - async_members == {"abort_connections"} and async_members <= members
    for name in ("send", "stream", "close", "credentials"):
        assert inspect.iscoroutinefunction(getattr(AsyncHttpTransport, name))
