"""Ctrl-C outside a command's own code: while click parses the command line, or as the command
ends. typer ended such a KeyboardInterrupt with exit 130 and nothing said, where the README
promises one line for every Ctrl-C, "also while the command is still starting"."""

from __future__ import annotations

from tests.bot.test_cli_audit_fixes import _ok
from tests.bot.test_cli_project_delete import env  # noqa: F401  (the fixture)
from tests.bot.test_term_interrupts import _run

# Ctrl-C while click parses the command line: the first parse is the top group's
WHILE_PARSING = """
import signal, sys
import typer._click.core as core
parsing = core.Command.parse_args
def parse_args(self, ctx, args):
    signal.raise_signal(signal.SIGINT)
    return parsing(self, ctx, args)
core.Command.parse_args = parse_args
from bot.console import main
sys.argv = ["labelbot", *sys.argv[1:]]
main()
"""

# Ctrl-C once the command's own code has returned, as click closes its context
AS_IT_ENDS = """
import signal, sys
import typer._click.core as core
closing = core.Context.close
def close(self):
    if self.parent is None:
        signal.raise_signal(signal.SIGINT)
    return closing(self)
core.Context.close = close
from bot.console import main
sys.argv = ["labelbot", *sys.argv[1:]]
main()
"""


def test_ctrl_c_while_the_command_line_is_parsed_is_one_line(
    env: dict[str, str],  # noqa: F811
) -> None:
    done = _run(WHILE_PARSING, env, "project", "create", "trial", "--labels", "NDA,Lease")
    assert done.returncode == 130, done.stderr
    assert done.stderr.splitlines() == ["interrupted while starting; nothing was done"]
    assert "trial" not in _ok("project", "list")  # nothing was done


def test_ctrl_c_as_the_command_ends_is_one_line_after_what_it_did(
    env: dict[str, str],  # noqa: F811
) -> None:
    done = _run(AS_IT_ENDS, env, "project", "create", "trial", "--labels", "NDA,Lease")
    assert done.returncode == 130, done.stderr
    assert "created project 'trial'" in done.stdout
    assert done.stderr.splitlines() == ["interrupted as it ended"]
    assert "trial" in _ok("project", "list")
