"""How often a line that asks an operator to fix something is logged: once per key (an error
code, a scope, a workspace, a cause) per ``every`` seconds, however many requests or calls run
into it, so the log says it and stays readable."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Throttle:
    """:meth:`due` is True for a key at most once per ``every`` seconds (thread-safe)."""

    def __init__(self, every: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}  # key -> when it was last due (clock)

    def due(self, key: str) -> bool:
        """Whether ``key`` may be said now; if so, it is not again for ``every`` seconds."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.every:
                return False
            self._last[key] = now
            return True

    def clear(self) -> None:
        """Every key may be said at once again (what it was about has been fixed)."""
        with self._lock:
            self._last.clear()
