"""The transport's engine when a proxy carries its requests: ``requests`` + urllib3, with their proxy support.

Without a proxy the transport uses :mod:`._wirepool` (lighter per request). Through this engine: one
``requests`` session per transport, never reading the environment per request (proxies, CA bundle and
``.netrc`` are settled when the transport is made), a blocking pool of ``pool_size`` connections, bodies
written ``blocksize`` bytes at a time with an exact ``Content-Length``, and every connection reported to the
transport's :class:`~._carrying.ConnectionRegistry` (so cancel scopes and answer deadlines work alike on
both engines).
"""

from __future__ import annotations

import http.client
import threading
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple, Type, Union

import requests
import requests.utils
import urllib3
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions
from requests.adapters import BaseAdapter, HTTPAdapter

from ._attempts import ANSWER_BROKE_OFF, CLOSED_WITHOUT_ANSWER
from ._carrying import ConnectionRegistry
from ._prepare import prepare
from ._streams import fill
from .._protocol.errors import FailureKind

__all__ = ["CONNECT_TIMEOUTS", "FAILURE_KINDS", "NAMED_FAILURES", "BodyReader", "RequestsAnswer", "RequestsEngine", "proxy_settings"]

_URLLIB3_2 = int(getattr(urllib3, "__version__", "1").split(".")[0]) >= 2


#: How each ``requests`` failure is judged, first match wins (after the wire engine's; the transport reads it).
FAILURE_KINDS: Tuple[Tuple[Type[BaseException], FailureKind], ...] = (
    (requests.exceptions.SSLError, FailureKind.TLS),  # before ConnectionError: a refused certificate is both
    (requests.exceptions.Timeout, FailureKind.TIMEOUT),  # before ConnectionError: ConnectTimeout is both
    (requests.exceptions.ConnectionError, FailureKind.CONNECTION),
    (requests.exceptions.ChunkedEncodingError, FailureKind.CONNECTION),  # the answer broke off
    (requests.exceptions.RequestException, FailureKind.OTHER),
)
#: requests' and urllib3's "could not connect in time".
CONNECT_TIMEOUTS: Tuple[Type[BaseException], ...] = (requests.exceptions.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError)
#: requests' and http.client's exceptions that say what happened to a connection, in plain words.
NAMED_FAILURES: Tuple[Tuple[Type[BaseException], str], ...] = (
    (http.client.RemoteDisconnected, CLOSED_WITHOUT_ANSWER),
    (http.client.IncompleteRead, ANSWER_BROKE_OFF),
    (requests.exceptions.ChunkedEncodingError, ANSWER_BROKE_OFF),
)


def proxy_settings(base_url: str, proxies: Mapping[str, str]) -> Optional[Dict[str, str]]:
    """The proxies mapping to send with when a proxy carries requests to ``base_url``, else ``None``.

    ``proxies`` comes first, then the environment's (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``),
    honouring ``NO_PROXY`` (or a ``no_proxy`` entry of ``proxies``), as ``requests`` merges them.
    """
    merged: Dict[str, str] = dict(proxies)
    for name, value in requests.utils.get_environ_proxies(base_url, no_proxy=merged.get("no_proxy")).items():
        merged.setdefault(name, value)
    return merged if requests.utils.select_proxy(base_url, merged) else None


def _connection_classes(registry: ConnectionRegistry) -> Dict[str, Any]:
    """urllib3 pool classes whose connections report to ``registry``."""
    record, bind, sent = registry.recorded, registry.bind, registry.sent

    base: Any = object  # (typed Any: the mixin calls the urllib3 connection's methods through super())

    class Reporting(base):  # type: ignore[misc]
        """What both connection classes add: each connect recorded, each request bound, then marked sent."""

        def connect(self) -> None:
            super().connect()
            record(self)

        def request(self, *args: Any, **kwargs: Any) -> None:
            bind(self)
            super().request(*args, **kwargs)
            sent()

    class HTTPConnection(Reporting, urllib3.connection.HTTPConnection):
        pass

    class HTTPSConnection(Reporting, urllib3.connection.HTTPSConnection):
        pass

    class HTTPConnectionPool(urllib3.connectionpool.HTTPConnectionPool):
        ConnectionCls = HTTPConnection

    class HTTPSConnectionPool(urllib3.connectionpool.HTTPSConnectionPool):
        ConnectionCls = HTTPSConnection

    return {"http": HTTPConnectionPool, "https": HTTPSConnectionPool}


class _PoolAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections write request bodies ``blocksize`` bytes at a time and report to
    the registry."""

    def __init__(self, blocksize: int, pool_classes: Dict[str, Any], **kwargs: Any) -> None:
        self._blocksize = blocksize  # read by init_poolmanager, which HTTPAdapter.__init__ calls
        self._pool_classes = pool_classes
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        if _URLLIB3_2:  # urllib3 1.x pool keys have no blocksize
            pool_kwargs.setdefault("blocksize", self._blocksize)
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pool_classes

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        if _URLLIB3_2:
            proxy_kwargs.setdefault("blocksize", self._blocksize)
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = self._pool_classes
        return manager


class BodyReader:
    """Exactly ``length`` bytes of ``source`` from its current position, read in the sizes asked for.

    ``requests`` takes its ``len()`` as Content-Length and urllib3 calls ``read(blocksize)`` until it is
    exhausted, so each byte is read once and nothing is buffered beyond one block.
    """

    def __init__(self, source: Any, length: int, blocksize: int) -> None:
        self._source = source
        self._left = length
        self._blocksize = blocksize

    def read(self, size: Optional[int] = -1) -> Any:
        if self._left <= 0:
            return b""
        wanted = self._left if size is None or size < 0 else min(size, self._left)
        data = self._source.read(wanted)
        if not data:
            # Sending fewer bytes than Content-Length would leave the server waiting: fail now.
            raise OSError(f"request body ended {self._left} bytes before its Content-Length")
        self._left -= len(data)
        return data

    def __len__(self) -> int:
        return self._left

    def __iter__(self) -> Iterator[Any]:
        while True:
            block = self.read(self._blocksize)
            if not block:
                return
            yield block


class _MemorySource:
    """``read(n)`` over a bytes-like object, returning memoryview slices (no copy)."""

    def __init__(self, data: Union[bytearray, memoryview]) -> None:
        self._view = memoryview(data).cast("B")
        self._position = 0

    def read(self, size: int) -> memoryview:
        chunk = self._view[self._position : self._position + size]
        self._position += len(chunk)
        return chunk


class RequestsAnswer:
    """A ``requests`` response as the transport reads every answer: status, headers, ``read(n)``, ``close()``;
    urllib3's read failures become the ``requests`` exceptions they are elsewhere."""

    __slots__ = ("_response", "headers", "status")

    def __init__(self, response: requests.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.headers: Mapping[str, str] = response.headers

    def read(self, size: int) -> bytes:
        try:
            return bytes(self._response.raw.read(size))
        except urllib3.exceptions.ProtocolError as error:
            raise requests.exceptions.ChunkedEncodingError(error) from error
        except urllib3.exceptions.ReadTimeoutError as error:
            raise requests.exceptions.ConnectionError(error) from error
        except urllib3.exceptions.SSLError as error:
            raise requests.exceptions.SSLError(error) from error
        except urllib3.exceptions.HTTPError as error:  # any other: not an OSError, which the transport expects
            raise requests.exceptions.ConnectionError(error) from error

    def readinto(self, view: memoryview) -> int:
        """As the wire engine's: ``view`` filled unless the body ends first (through urllib3: one more copy)."""
        return fill(self.read, view)

    def close(self) -> None:
        self._response.close()


class RequestsEngine:
    """Sends requests through ``requests`` and the proxies of ``proxies``, reporting to ``registry``."""

    def __init__(
        self,
        *,
        proxies: Mapping[str, str],
        verify: Union[bool, str],
        pool_size: int,
        blocksize: int,
        timeout: Any,
        registry: ConnectionRegistry,
        user_agent: str,
    ) -> None:
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": user_agent, "Accept-Encoding": "identity"})
        # Settled once: left to requests, every attempt walked os.environ twice for proxies and read ~/.netrc,
        # and a .netrc entry for the host replaced the signature with Basic auth.
        self.session.trust_env = False
        self._send_settings: Dict[str, Any] = {"proxies": dict(proxies), "verify": verify, "stream": True, "cert": None}
        self._timeout = timeout
        self._blocksize = blocksize
        self._pool_classes = _connection_classes(registry)
        self._pool_lock = threading.Lock()
        self._retired: List[BaseAdapter] = []
        self.pool_size = 0
        self._mount(pool_size)

    def grow(self, size: int) -> None:
        """Allow at least ``size`` connections at once (connections lent out return to the old pool)."""
        with self._pool_lock:
            if size > self.pool_size:
                self._retired.append(self.session.get_adapter("http://"))
                self._mount(size)

    def _mount(self, size: int) -> None:
        adapter = _PoolAdapter(
            self._blocksize, self._pool_classes, pool_connections=4, pool_maxsize=size, pool_block=True, max_retries=0
        )
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.pool_size = size

    def send(self, method: str, url: str, headers: Mapping[str, str], body: Any, length: int) -> RequestsAnswer:
        """Send one request; its answer's body is left unread."""
        data: Any
        if body is None or length == 0:
            data = None if body is None else b""  # an empty reader would make requests send chunked
        elif isinstance(body, bytes):
            data = body[:length] if len(body) != length else body
        elif isinstance(body, (bytearray, memoryview)):
            data = BodyReader(_MemorySource(body), length, self._blocksize)
        else:
            data = BodyReader(body, length, self._blocksize)
        prepared = prepare(self.session, method, url, headers, data)
        if method in ("GET", "HEAD", "DELETE"):
            # "Content-Length ... must not be sent on GET/HEAD/DELETE" (436/7728); requests adds 0 for DELETE.
            prepared.headers.pop("Content-Length", None)
        response = self.session.send(prepared, timeout=self._timeout, allow_redirects=False, **self._send_settings)
        return RequestsAnswer(response)

    def close(self) -> None:
        self.session.close()
        for adapter in self._retired:
            adapter.close()
