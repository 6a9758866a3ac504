"""A local Slack for Socket Mode (https://docs.slack.dev/apis/events-api/using-socket-mode).

`SocketSlack` is the fake Web API whose apps.connections.open answers an app-level token
(`xapp-`) with the URL of a `SocketServer`: a real WebSocket server (aiohttp) on 127.0.0.1 that
greets each connection with Slack's `hello`, sends envelopes and `disconnect` messages as Slack
does, closes sockets on demand, and records what the client sends back (its acknowledgements).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Coroutine
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.slack_api import FakeSlackAPI, Params


class SocketServer:
    """Start with `start()`, stop with `stop()`; connection n is `conns[n]` (the last: -1)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.conns: list[web.WebSocketResponse] = []  # every connection made, in order
        self._transports: list[asyncio.BaseTransport | None] = []  # conns[n]'s TCP connection
        self.received: list[tuple[int, dict[str, Any]]] = []  # (connection number, message)
        self.cond = threading.Condition()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> SocketServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(10)
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            for conn in self.conns:
                await conn.close()
            if self._runner is not None:
                await self._runner.cleanup()

        self._call(shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def url(self) -> str:
        """What apps.connections.open answers: a new ticket each time, as Slack's."""
        return f"ws://127.0.0.1:{self._port}/link/?ticket=t{next(self._ids)}"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        self.loop.close()

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/link/", self._connection)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _connection(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        with self.cond:
            number = len(self.conns)
            self.conns.append(ws)
            self._transports.append(request.transport)
            self.cond.notify_all()
        hello = {
            "type": "hello",
            "num_connections": 1,
            "debug_info": {"host": "fake", "approximate_connection_time": 18060},
            "connection_info": {"app_id": "A111"},
        }
        await ws.send_str(json.dumps(hello))
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                with self.cond:
                    self.received.append((number, json.loads(message.data)))
                    self.cond.notify_all()
        return ws

    def _call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(5)

    # --- what Slack sends ---------------------------------------------------------------------
    def send(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        envelope_id: str | None = None,
        conn: int = -1,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        """An envelope of ``kind`` ("events_api", "interactive", "slash_commands"); its id. An
        event Slack sends again (one not acknowledged) comes in a new envelope, its payload
        unchanged, with ``retry_attempt`` 1, 2... and a ``retry_reason`` ("timeout")."""
        eid = envelope_id or f"env-{next(self._ids)}"
        envelope: dict[str, Any] = {
            "envelope_id": eid,
            "payload": payload,
            "type": kind,
            "accepts_response_payload": kind != "events_api",
        }
        if kind == "events_api":
            envelope.update(retry_attempt=retry_attempt, retry_reason=retry_reason)
        if conn != -1:
            self._call(self.conns[conn].send_str(json.dumps(envelope)))
            return eid
        # as Slack does, on an open connection: the newest may be closing (the client, back
        # after an outage, can connect twice and close one), then a newer one is taken
        for _ in range(3):
            try:
                self._call(self.conns[self._newest_open()].send_str(json.dumps(envelope)))
                return eid
            except ConnectionResetError:
                continue
        raise AssertionError("no open Socket Mode connection took the envelope")

    def _newest_open(self, timeout: float = 5.0) -> int:
        """The newest connection whose TCP connection is not closing (waits for one)."""

        def newest() -> int | None:
            for number in reversed(range(len(self.conns))):
                transport = self._transports[number]
                if not self.conns[number].closed and not (
                    transport is not None and transport.is_closing()
                ):
                    return number
            return None

        with self.cond:
            self.cond.wait_for(lambda: newest() is not None, timeout)
            found = newest()
        if found is None:
            raise AssertionError("no open Socket Mode connection")
        return found

    def refresh(self, conn: int = -1) -> None:
        """Slack asks the client to connect anew (it does so every few hours)."""
        message = {"type": "disconnect", "reason": "refresh_requested", "debug_info": {}}
        self._call(self.conns[conn].send_str(json.dumps(message)))

    def close_socket(self, conn: int = -1, code: int = 1001) -> None:
        self._call(self.conns[conn].close(code=code))

    def reset(self, conn: int = -1) -> None:
        """The TCP connection cut without a WebSocket close frame, as a proxy or a NAT resets
        it."""
        transport = self._transports[conn]
        assert transport is not None
        self.loop.call_soon_threadsafe(transport.abort)

    # --- what the client sent back --------------------------------------------------------------
    def acks(self, eid: str) -> list[dict[str, Any]]:
        with self.cond:
            return [m for _, m in self.received if m.get("envelope_id") == eid]

    def wait_ack(self, eid: str, timeout: float = 30) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: bool(self.acks(eid)), timeout)

    def wait_conns(self, n: int, timeout: float = 30) -> bool:
        """Whether ``n`` connections have been made (in all) within ``timeout`` seconds."""
        with self.cond:
            return self.cond.wait_for(lambda: len(self.conns) >= n, timeout)


class SocketSlack(FakeSlackAPI):
    """The fake Web API, with apps.connections.open: an `xapp-` token gets the `SocketServer`'s
    URL, unless `app_token_error` is set (then `{"ok": false, "error": app_token_error}`)."""

    def __init__(self, sockets: SocketServer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sockets = sockets
        self.app_token_error: str | None = None

    def _authorize(self, params: Params, headers: dict[str, str]) -> Params | None:
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if token.startswith("xapp-"):
            error = self.app_token_error
            return None if error is None else {"ok": False, "error": error}
        return super()._authorize(params, headers)

    def _dispatch(self, method: str, params: Params) -> Params:
        if method == "apps.connections.open":
            return {"ok": True, "url": self.sockets.url()}
        return super()._dispatch(method, params)
