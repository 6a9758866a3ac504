"""A loopback TCP proxy to PostgreSQL that can stop forwarding without closing anything: a
database that stops answering as a partitioned network or a frozen host does (the audit paused
such a proxy with SIGSTOP). Unlike a server that is down, nothing is refused: connections are
accepted and stay open, and the kernel acknowledges what is sent; no answer comes back."""

from __future__ import annotations

import contextlib
import socket
import threading


class StallingProxy:
    """127.0.0.1:``port`` (chosen by the OS) forwarding to ``upstream``; :meth:`stall` holds
    every byte from then on in both directions, :meth:`resume` sends what was held and goes on.
    Closing it closes every connection (a thread still waiting on one gets an error)."""

    def __init__(self, upstream: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.upstream = upstream
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True, name="stalling-proxy").start()

    def stall(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        self._closed = True
        self._flowing.set()
        with self._lock:
            for sock in [self._listener, *self._sockets]:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def __enter__(self) -> StallingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            with self._lock:
                self._sockets += [client, server]
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                self._flowing.wait()  # stalled: read (so the kernel acknowledges it), held
                if self._closed:
                    return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
