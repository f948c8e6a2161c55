"""The first gate of every request, before FastAPI reads a byte of the body.

FastAPI parses a route's JSON body before it runs the route's dependencies, so a bearer-token
dependency alone lets anyone make the trainer read (and hold) any body. This ASGI middleware
refuses a request to /v1/ without the token (401, nothing read) and a body over the limit
(413: by its Content-Length at once, or as soon as a streamed body passes it, the rest unread).
"""
from __future__ import annotations

import hmac
import json

DEFAULT_MAX_BODY_MB = 256
"""Default body limit: over 4x the largest dataset the benchmarks send (see trainer/README.md)."""


class RequestGuard:
    def __init__(self, app, token: str, max_body_bytes: int):
        self.app = app
        self._expected = f"Bearer {token}".encode()
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        given = headers.get(b"authorization", b"")
        if not (given[:7].lower() == b"bearer " and hmac.compare_digest(b"Bearer " + given[7:], self._expected)):
            return await _reply(send, 401, "missing or wrong bearer token", {b"www-authenticate": b"Bearer"})
        length = headers.get(b"content-length")
        limit = self.max_body_bytes
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await _reply(send, 413, f"the request body is over the trainer's limit of {limit} bytes (TRAINER_MAX_BODY_MB)")

        # Read the body here, up to the limit (FastAPI would read all of it anyway), then hand it on.
        chunks, seen, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            more = message.get("more_body", False)
            if seen > limit:
                return await _reply(send, 413, f"the request body is over the trainer's limit of {limit} bytes (TRAINER_MAX_BODY_MB)")
        body, delivered = b"".join(chunks), False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _reply(send, status: int, error: str, extra: dict | None = None) -> None:
    body = json.dumps({"error": error, "detail": error}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
