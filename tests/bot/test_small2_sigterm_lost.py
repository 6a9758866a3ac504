"""SIGTERM that lands in a garbage-collection callback or a ``__del__`` still stops `labelbot
serve` and `labelbot worker`. serve's handler raised a plain SystemExit(143), which Python
prints there as "Exception ignored" and drops: the server ran on. It raises
bot.console.Terminated now, which the console script's unraisable hook sends again, as it does
a lost KeyboardInterrupt (b3bf4e3; the worker's SIGTERM is a KeyboardInterrupt, so it was
covered).

The window is forced, not waited for: in a process of its own, with the console script's hook
and each command's own SIGTERM handler installed, an object's ``__del__`` raises SIGTERM, so the
handler runs inside it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import signal, sys, time
    from bot import console
    sys.unraisablehook = console._redeliver(console._Sigterm())  # as console.main sets it
    if sys.argv[1] == "serve":
        from bot.cli.serve import _exit_on_sigterm
        _exit_on_sigterm()
    else:  # the worker's, as bot/cli/models.py installs it
        signal.signal(signal.SIGTERM, signal.default_int_handler)

    class Collected:
        def __del__(self):
            signal.raise_signal(signal.SIGTERM)  # its handler runs here, inside __del__

    try:
        Collected()  # gone at once: __del__ runs, and what its handler raises is unraisable
        time.sleep(10)
        print("ran on")
    except SystemExit as exc:
        print("stopped", exc.code)
    except KeyboardInterrupt:
        print("stopped", "interrupt")
    """
)


@pytest.mark.parametrize(
    ("command", "said"), [("serve", "stopped 143"), ("worker", "stopped interrupt")]
)
def test_a_sigterm_lost_in_a_del_is_sent_again(command: str, said: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, command], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == said, done.stdout + done.stderr
    assert "Exception ignored" not in done.stderr, done.stderr
