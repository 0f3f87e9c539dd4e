"""From a :class:`Request` to the :class:`Reply` the wire writes: route, authenticate, plan the faults,
serve, let the faults alter the answer. Every error becomes an ``<Error>`` reply here, in one place.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional, Tuple

from ._cors import CorsTable, decorate, preflight
from ._effects import altered, refusal
from ._messages import Reply, Request, error_reply
from ._routing import COPY_ROUTES, route
from ._service import HANDLERS, Body, Service
from .auth import AuthError, Keyring
from .faults import CLEAN_PLAN, FaultController
from .protocol import ServiceError
from .store import BodySink


#: The access log's name of a CORS preflight (COS: OPTIONS Object; OSS: Options).
PREFLIGHT = "OptionsObject"
#: The APIs the ``replace_source`` fault applies to: the copies (their source) and GET Object (the object read).
_REPLACES_SOURCE = frozenset({*COPY_ROUTES.values(), "GetObject"})


class Dispatcher:
    """Serves requests with ``service``, checking signatures against ``keyring`` (unless ``anonymous``)
    at the time ``clock`` gives, under the faults and latency of ``faults``."""

    def __init__(
        self,
        service: Service,
        *,
        keyring: Keyring,
        anonymous: bool,
        faults: FaultController,
        clock: Callable[[], float],
        stopping: threading.Event,
        cors: Optional[CorsTable] = None,
    ) -> None:
        self.service = service
        self._cors = cors if cors is not None else CorsTable()
        self._keyring = keyring
        self._anonymous = anonymous
        self._faults = faults
        self._clock = clock
        self._stopping = stopping

    def handle(self, request: Request, body: Body, *, body_pending: bool) -> Tuple[str, Reply]:
        """The API ``request`` calls (``""`` when it routes nowhere) and the reply to write.

        ``body_pending`` says whether request body bytes are still unread.
        """
        api = ""
        plan = CLEAN_PLAN
        invalid: Optional[ServiceError] = None
        try:
            try:  # OSS mode: the x-oss-* headers in the server's vocabulary; a refused value answers after auth
                request = request.in_internal_vocabulary()
            except ServiceError as error:
                invalid = error
            if request.method == "OPTIONS":  # a browser's CORS preflight: no signature, no faults
                api = PREFLIGHT
                self.service.check_bucket(request, api)
                return api, preflight(request, self._cors)
            api = route(request)
            self.service.check_bucket(request, api)  # before the signature, as the services answer
            if not self._anonymous:
                request.dialect.authenticate(request, self._keyring, self._clock())
            if invalid is not None:
                raise invalid
            plan = self._faults.plan(api)
            if self._faults.latency > 0:
                self._stopping.wait(self._faults.latency)
            refused = refusal(plan, request, body_pending)
            if refused is None and plan.corrupt:
                body = _Corrupting(body)
            reply = refused if refused is not None else HANDLERS[api](self.service, request, body)
            if plan.replace_source and reply.status in (200, 206) and api in _REPLACES_SOURCE:
                self.service.replace_copy_source(request)  # served: the object changes under the client
        except AuthError as error:
            denied = ServiceError(error.status, error.code, error.message, ec=error.ec, details=error.details)
            reply = error_reply(request, denied, api)
        except ServiceError as error:
            reply = error_reply(request, error, api)
        return api, decorate(request, altered(reply, plan), self._cors)


class _Corrupting:
    """A body whose first streamed byte reaches the store with one bit changed (the ``corrupt`` fault); a copy
    API, which reads no body, damages the first byte it copies instead (``damages``)."""

    damages = True

    def __init__(self, body: Body) -> None:
        self._body = body

    def receive(self, sink: BodySink, length: int, *, rate: Optional[float]) -> None:
        sink.damage_next_byte()
        self._body.receive(sink, length, rate=rate)

    def read_small(self, length: int) -> bytes:
        return self._body.read_small(length)
