"""The application server of a browser upload (issue 26): it holds the credentials, the page does not.

The page (``static/index.html``) asks ``POST /uploads`` for an upload of its file (name and size); the server
starts a presigned multipart upload and answers one pre-signed ``PUT`` URL per part. The page slices the
file, computes each part's CRC-64 (``static/crc64.js``), PUTs the parts with ``fetch`` and reports their CRC
and ETag to ``POST /uploads/<id>/complete``; the server completes and verifies (the parts against the plan and
the reports, the object's CRC-64 against the parts'). ``POST /uploads/<id>/urls`` signs fresh URLs (a retry,
an expiry); ``DELETE /uploads/<id>`` aborts. The states live in this process (never in the page: it could
change them); an application would keep them in its database.

Run it against the local server (the bucket's CORS rule lets the page's origin PUT and read ETag/CRC-64)::

    python -m examples.presigned_app.app [--port 8080] [--dialect oss]    # then open the printed address
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Dict, Optional

from aiohttp import web

from cos_multipart import CosIntegrityError, CosValidationError, PresignedPartsError, PresignedUpload
from cos_multipart.aio import AsyncPresignedUploads

STATIC = Path(__file__).resolve().parent / "static"
UPLOADS = web.AppKey("uploads", AsyncPresignedUploads)
STATES = web.AppKey("states", Dict[str, PresignedUpload])
PART_SIZE = web.AppKey("part_size", object)
logger = logging.getLogger(__name__)


def make_app(uploads: AsyncPresignedUploads, *, part_size: Optional[int] = None) -> web.Application:
    """The application: the page, its scripts, and the four calls the page makes."""
    app = web.Application(client_max_size=1024 * 1024)
    app[UPLOADS] = uploads
    app[STATES] = {}
    app[PART_SIZE] = part_size
    app.router.add_get("/", page)
    app.router.add_static("/static/", STATIC)
    app.router.add_post("/uploads", start)
    app.router.add_post("/uploads/{upload_id}/urls", urls)
    app.router.add_post("/uploads/{upload_id}/complete", complete)
    app.router.add_delete("/uploads/{upload_id}", abort)
    return app


async def page(request: web.Request) -> web.FileResponse:
    """The page."""
    return web.FileResponse(STATIC / "index.html")


async def start(request: web.Request) -> web.Response:
    """``{"name", "size"}`` -> ``{"upload_id", "part_size", "parts": [PartUrl...]}``."""
    asked = await request.json()
    part_size = request.app[PART_SIZE]
    try:
        state, parts = await request.app[UPLOADS].start(
            f"uploads/{asked.get('name')}", size=asked.get("size"), part_size=part_size if isinstance(part_size, int) else None,
            expires=900,
        )  # fmt: skip
    except CosValidationError as error:
        return web.json_response({"error": str(error), "field": error.field}, status=400)
    request.app[STATES][state.upload_id] = state
    return web.json_response({"upload_id": state.upload_id, "key": state.key, "part_size": state.part_size,
                              "parts": [part.to_json() for part in parts]})  # fmt: skip


async def urls(request: web.Request) -> web.Response:
    """``{"parts": [numbers]}`` -> ``{"parts": [PartUrl...]}``: fresh URLs."""
    state = _state(request)
    asked = await request.json()
    parts = await request.app[UPLOADS].urls(state, asked.get("parts"), expires=900)
    return web.json_response({"parts": [part.to_json() for part in parts]})


async def complete(request: web.Request) -> web.Response:
    """``{"parts": [{"part", "crc64", "etag"}...]}`` -> the verified object, or which parts are wrong."""
    state = _state(request)
    reported = (await request.json()).get("parts", [])
    try:
        result = await request.app[UPLOADS].complete(state, reported)
    except PresignedPartsError as error:  # the page may send the parts named again, then complete again
        problems = [{"part": n, "what": what, "expected": str(e), "got": str(g)} for n, what, e, g in error.problems]
        return web.json_response({"error": str(error), "problems": problems}, status=409)
    except (CosIntegrityError, CosValidationError) as error:
        request.app[STATES].pop(state.upload_id, None)
        return web.json_response({"error": str(error)}, status=422)
    request.app[STATES].pop(state.upload_id, None)
    return web.json_response({"key": result.key, "size": result.size, "parts": result.parts, "crc64": str(result.crc64),
                              "crc64_verified": result.crc64_verified})  # fmt: skip


async def abort(request: web.Request) -> web.Response:
    """Abort the upload (the page gave up)."""
    state = _state(request)
    await request.app[UPLOADS].abort(state)
    request.app[STATES].pop(state.upload_id, None)
    return web.json_response({"aborted": state.upload_id})


def _state(request: web.Request) -> PresignedUpload:
    state = request.app[STATES].get(request.match_info["upload_id"])
    if state is None:
        raise web.HTTPNotFound(text="no such upload")
    return state


async def serve(*, port: int = 8080, dialect: str = "cos") -> None:  # pragma: no cover - the demo
    """Run the application against a local server until interrupted."""
    from cos_multipart.aio import AsyncCosClient
    from cos_multipart.testing import CorsRule, LocalCOS

    origin = f"http://127.0.0.1:{port}"
    with LocalCOS(dialect=dialect, cors=[CorsRule.for_uploads(origin)]) as cos:
        async with AsyncCosClient(cos.bucket, cos.region, cos.credentials, endpoint=cos.endpoint, dialect=dialect) as client:
            # A browser cannot send the Host header an IP endpoint needs: part URLs use a host naming the bucket.
            uploads = AsyncPresignedUploads(client, part_endpoint=f"http://{cos.bucket}.localhost:{cos.port}")
            runner = web.AppRunner(make_app(uploads))
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            print(f"open {origin}/ (objects go to {cos.endpoint}, bucket {cos.bucket})")  # noqa: T201
            try:
                await asyncio.Event().wait()
            finally:
                await runner.cleanup()


if __name__ == "__main__":  # pragma: no cover
    import argparse

    parser = argparse.ArgumentParser(description="a page that uploads files straight to a local COS/OSS server")
    parser.add_argument("--port", type=int, default=8080, help="the application's port (default 8080)")
    parser.add_argument("--dialect", choices=("cos", "oss"), default="cos", help="the service the local server plays")
    arguments = parser.parse_args()
    try:
        asyncio.run(serve(port=arguments.port, dialect=arguments.dialect))
    except KeyboardInterrupt:
        pass
