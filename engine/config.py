"""The one settings object: every environment variable labelbot reads is declared here."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, PrivateAttr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from storage.errors import ConfigurationError

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
# A year: an assignment's deadline is now + TTL, and a TTL near timedelta's limit would overflow
# the datetime arithmetic instead of meaning "never expire".
MAX_TTL_MINUTES = 365 * 24 * 60
# The scheduler's shortest interval between checks (LABELBOT_SCHEDULER_POLL_SECONDS, `worker
# --poll-seconds`): below it, it would do little but poll
MIN_POLL_SECONDS = 0.1
# ... and its longest, a day: past it nothing is retrained for days, which is no schedule; far
# past it (1e14) APScheduler's interval overflowed timedelta and `worker` and `serve` died at
# start with a traceback
MAX_POLL_SECONDS = 24 * 60 * 60
# Text settings that mean their default when set empty; every number does too
_EMPTY_IS_DEFAULT = frozenset({"encoder", "data_dir", "models_dir"})


class Settings(BaseSettings):
    """Engine and storage settings, read from the environment (and an optional `.env`)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str = Field(
        default="sqlite:///labelbot.db",
        validation_alias="DATABASE_URL",
        description="SQLAlchemy URL: sqlite:///path.db or postgresql+psycopg://user@host/db",
    )
    encoder: str = Field(
        default=DEFAULT_ENCODER,
        validation_alias="LABELBOT_ENCODER",
        description="Encoder name: the bundled MiniLM, or a local transformers model path",
    )
    data_dir: Path = Field(
        default=Path(".labelbot"),
        validation_alias="LABELBOT_DATA_DIR",
        description="Where embeddings caches and model artifacts live (made absolute on load)",
    )
    models_dir: Path | None = Field(
        default=None,
        validation_alias="LABELBOT_MODELS_DIR",
        description="Where model files live (default: the data directory's models/)",
    )
    api_token: str | None = Field(
        default=None,
        validation_alias="LABELBOT_API_TOKEN",
        description="Bearer token the REST API requires",
    )
    assignment_ttl_minutes: float = Field(
        default=30.0,
        gt=0,
        le=MAX_TTL_MINUTES,
        allow_inf_nan=False,
        validation_alias="LABELBOT_ASSIGNMENT_TTL_MINUTES",
        description="Minutes before an unanswered example returns to the pool",
    )
    keep_models: int = Field(
        default=5,
        ge=0,
        validation_alias="LABELBOT_KEEP_MODELS",
        description="Model files kept besides the active one (older runs keep their metrics)",
    )
    scheduler_poll_seconds: float = Field(
        default=15.0,
        ge=MIN_POLL_SECONDS,
        le=MAX_POLL_SECONDS,
        allow_inf_nan=False,
        validation_alias="LABELBOT_SCHEDULER_POLL_SECONDS",
        description="Seconds between the scheduler's checks for projects to retrain",
    )

    @field_validator("database_url", mode="before")
    @classmethod
    def _without_spaces_around(cls, value: object) -> object:
        """DATABASE_URL without the spaces around it (a newline from a file, a space from a
        copy), as a Slack token's: a URL holds none there, and one kept was "not a valid
        database URL", or named a SQLite file with a newline at its end. Empty, it is still
        refused (storage.db.make_engine)."""
        return value.strip() if isinstance(value, str) else value

    @field_validator("*", mode="before")
    @classmethod
    def _default_when_empty(cls, value: object, info: ValidationInfo) -> object:
        """Set but empty, or only spaces (``LABELBOT_DATA_DIR=`` or ``LABELBOT_KEEP_MODELS:
        ${KEEP}`` in a compose file, KEEP unset), means the default, as an empty Slack variable
        counts as not set: an empty data directory was the current directory, which then
        filled with model files and caches, an empty encoder name slipped past serve's check
        that the bundled encoder is installed, and an empty number (any of the settings', the
        bot's too: subclasses inherit this) stopped every command with "Input should be a
        valid number". An encoder's name is taken without the spaces around it, as
        DATABASE_URL is: no model's name holds any there, and " all-MiniLM-L6-v2" failed every
        new text as a model that cannot be loaded. (A folder keeps its spaces: one that holds
        them may hold a team's models.) DATABASE_URL set empty stays refused
        (storage.db.make_engine): a database of its own choosing would hide the mistake."""
        field = cls.model_fields[str(info.field_name)]
        empty_is_default = field.annotation in (int, float) or info.field_name in _EMPTY_IS_DEFAULT
        if empty_is_default and isinstance(value, str) and not value.strip():
            return field.default
        if info.field_name == "encoder" and isinstance(value, str):
            return value.strip()
        return value

    @field_validator("data_dir", "models_dir", mode="after")
    @classmethod
    def _absolute_data_dir(cls, value: Path | None) -> Path | None:
        """A relative data directory is taken against the directory the settings are loaded in,
        once: the model files and caches written under it are then found by the same absolute
        path from any directory (a server's WorkingDirectory, a CLI run elsewhere)."""
        return None if value is None else Path(os.path.abspath(value.expanduser()))

    # Where pool graphs are kept instead of the data directory's graphs/: no setting, only a
    # demo session's own folder (with_graphs_dir), whose project 1 would otherwise share its
    # graph file with the project 1 of a database beside it
    _graphs_dir: Path | None = PrivateAttr(default=None)

    @property
    def graphs_root(self) -> Path:
        """The folder that holds the pool graphs (``<root>/<encoder>/project-N.npz``,
        engine.pool_graph): ``graphs/`` under the data directory, or a demo's own."""
        return self._graphs_dir if self._graphs_dir is not None else self.data_dir / "graphs"

    def with_graphs_dir(self, folder: Path) -> Settings:
        """These settings, with the pool graphs kept in ``folder``."""
        copy = self.model_copy()
        copy._graphs_dir = Path(os.path.abspath(folder))
        return copy

    @property
    def models_root(self) -> Path:
        """The folder that holds each project's model files (``<root>/<project>/``):
        LABELBOT_MODELS_DIR, else ``models/`` under the data directory."""
        return self.models_dir if self.models_dir is not None else self.data_dir / "models"

    def artifact_file(self, stored: str) -> Path:
        """Where the model file stored as ``stored`` (a model run's ``artifact_path``) is.

        An absolute path is used as it is, unless it lies outside :attr:`models_root` and
        the same file is there (``NAME/vN-….npz``): a `labelbot db copy` names the first
        database's files, and a copy given its own data directory (a copy of the first one's)
        reads, prunes and deletes its own files, not the first one's. A relative one was
        written by a labelbot that kept ``data_dir`` relative (".labelbot/models/NAME/vN.npz",
        relative to the directory that command ran in): it is looked for under
        :attr:`models_root` (``NAME/vN.npz``), else, failing that, in the current directory as
        before."""
        path = Path(stored)
        if path.is_absolute():
            own = self.models_root.absolute() / Path(*path.parts[-2:])
            return own if own != path and own.is_file() else path
        under_data_dir = self.models_root / Path(*path.parts[-2:])
        if under_data_dir.exists() or not path.exists():
            return under_data_dir
        return path.absolute()

    def owns_file(self, path: Path) -> bool:
        """Whether ``path`` lies in this installation's data directory or models directory (as
        written or with links resolved). A model file outside both is another database's (a
        `labelbot db copy` names the first one's files): pruning and `project delete` leave it."""
        shown = (path, path.resolve())
        roots = (self.data_dir, self.models_root)
        return any(p.is_relative_to(root) or p.is_relative_to(root.resolve())
                   for root in roots for p in shown)  # fmt: skip

    def sqlite_file(self) -> Path | None:
        """The absolute path of the SQLite file DATABASE_URL names (:func:`sqlite_file`)."""
        return sqlite_file(self.database_url)

    def database_shown(self) -> str:
        """DATABASE_URL as a message should show it: a SQLite file by its absolute path, a
        password hidden, in the user info or as a query parameter (``?password=``, which libpq
        takes too)."""
        from storage.db import masked_url

        try:
            url = make_url(self.database_url)
        except Exception:
            return "an invalid DATABASE_URL"
        path = self.sqlite_file()
        if path is not None:
            url = url.set(database=str(path))
        return masked_url(url.render_as_string(hide_password=True))


def sqlite_file(database_url: str) -> Path | None:
    """The absolute path of the SQLite file ``database_url`` names (a relative one is relative
    to the current directory); None for PostgreSQL or an in-memory SQLite database."""
    try:
        url = make_url(database_url)
    except Exception:  # sqlalchemy's ArgumentError; storage.db.make_engine says it well
        return None
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):  # a SQLite URI filename: left to SQLite
        return None
    return Path(os.path.abspath(Path(database).expanduser()))


# variables whose value an error message leaves out (a token, a signing secret, a URL with a
# password in it)
SECRET_WORDS = ("token", "secret", "password", "url", "key")


def settings_error(exc: ValidationError, *, see: str) -> ConfigurationError:
    """A settings class's ValidationError as one line that names each variable at fault (its
    environment name: pydantic reports the alias), and the README section ``see``, so the CLI
    prints it as every configuration error (exit code 6) and not as pydantic's traceback."""
    problems = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"])
        if error["type"] == "missing":
            problems.append(f"{name} is not set")
        else:
            secret = any(word in name.lower() for word in SECRET_WORDS)
            got = "" if secret else f" (got {str(error['input'])[:40]!r})"  # never echo a secret
            problems.append(f"{name}: {error['msg']}{got}")
    return ConfigurationError("; ".join(problems) + f" (see README, {see!r})")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once; an invalid one is a ConfigurationError naming
    its variable (nothing is cached then: the next call reads the environment again)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise settings_error(exc, see="Configuration") from None
