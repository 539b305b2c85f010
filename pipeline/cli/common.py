"""What every command shares: settings from the group's options, error mapping, common options.

Imports stay light (click, pydantic-settings, the packages' error types): ``serambi --help`` must not
load Faust, Kafka clients or chDB.
"""

from __future__ import annotations

import csv
import difflib
import functools
import logging
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click

from connectors.core.errors import ConnectorError
from pipeline.errors import ConfigError, PipelineError
from pipeline.settings import Settings, load_settings, read_settings
from schemas.errors import DirectoryError, SchemaDriftError

__all__ = [
    "LIBRARY_LOGGERS",
    "SINCE",
    "SinceType",
    "configure_logging",
    "duration_option",
    "friendly",
    "parse_since",
    "read_settings_of",
    "settings_epilog",
    "settings_of",
]

F = TypeVar("F", bound=Callable[..., Any])
_USER_ERRORS = (PipelineError, ConnectorError, DirectoryError, SchemaDriftError, ValueError, csv.Error)
# Client libraries whose DEBUG records dump whole Kafka records (citizens' text, before the worker
# stores it): they never log below INFO, whatever -v says.
LIBRARY_LOGGERS = ("kafka", "aiokafka", "faust", "mode")
# HTTP client libraries whose warnings (retries, query ids) only repeat the one line Serambi prints itself.
_NOISY_LOGGERS = ("urllib3", "clickhouse_connect")


def configure_logging(verbose: int) -> None:
    """Logging for ``-v`` (info) and ``-vv`` (debug of Serambi's own modules, which never log event text).

    The libraries of :data:`LIBRARY_LOGGERS` are silent below ``-vv`` (they report reconnects and slow
    polls as warnings; ours say what matters) and at most at INFO with it.
    """
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)  # again: ``-v`` after the subcommand comes after basicConfig
    for library in LIBRARY_LOGGERS:
        logging.getLogger(library).setLevel(logging.INFO if verbose >= 2 else logging.CRITICAL)
    # A filter on the handlers, not a level: clickhouse-connect sets urllib3's level itself when it is imported.
    _QUIET.active = verbose < 2
    for handler in logging.getLogger().handlers:
        if _QUIET not in handler.filters:
            handler.addFilter(_QUIET)


class _QuietLibraries(logging.Filter):
    """Drops the records of :data:`_NOISY_LOGGERS` (below ``-vv``) that are not errors."""

    active = True

    def filter(self, record: logging.LogRecord) -> bool:
        return not (self.active and record.levelno < logging.ERROR and record.name.startswith(_NOISY_LOGGERS))


_QUIET = _QuietLibraries()


def settings_epilog() -> str:
    """The ``--help`` epilog listing every setting with its environment variable."""
    lines = ["\b", "Settings (environment, or a TOML file named by SERAMBI_CONFIG_FILE):"]
    for name, info in Settings.model_fields.items():
        lines.append(f"  SERAMBI_{name.upper():<28} {info.description or ''}".rstrip())
    return "\n".join(lines)


def settings_of(ctx: click.Context) -> Settings:
    """The settings of a command that writes, with ``--data-dir`` applied (creates the pseudonym key if missing)."""
    root = ctx.find_root()
    return load_settings(**root.obj) if root.obj else load_settings()


def read_settings_of(ctx: click.Context, *, require_data: bool = True) -> Settings:
    """The settings of a command that needs no pseudonym key: no key or data dir is created here.

    With ``require_data`` (read-only commands), a chDB that does not exist is a ``ConfigError``: a data dir
    without it means nothing ran there yet (or a typo), which must be said, not answered with an empty
    database created on the spot.
    """
    root = ctx.find_root()
    settings = read_settings(**root.obj) if root.obj else read_settings()
    chdb = settings.chdb_path
    if require_data and chdb is not None and not chdb.is_dir():
        where = settings.data_dir if chdb == settings.data_dir.resolve() / "chdb" else chdb
        msg = (
            f"no Serambi data in {where}: run serambi demo/run/import first, "
            "or set SERAMBI_DATA_DIR (or --data-dir) to the data dir they used"
        )
        raise ConfigError(msg)
    return settings


def friendly(func: F) -> F:
    """Turn the errors a user can act on into one clear line (exit 1) instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except _USER_ERRORS as exc:
            raise click.ClickException(str(exc)) from exc
        except Exception as exc:
            if _is_kafka_error(exc):
                msg = f"Kafka: {exc}; check SERAMBI_KAFKA_BOOTSTRAP_SERVERS and that the broker runs"
                raise click.ClickException(msg) from exc
            raise

    return wrapper  # type: ignore[return-value]


def _is_kafka_error(exc: Exception) -> bool:
    # Only a command that loaded the Kafka client can raise its errors: don't import it to find out.
    errors = sys.modules.get("kafka.errors")
    return errors is not None and isinstance(exc, errors.KafkaError)


def duration_option(func: F) -> F:
    """``--duration S`` of the commands that run until stopped."""
    return click.option(
        "--duration",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        envvar="SERAMBI_DURATION",
        show_envvar=True,
        help="Stop after this many seconds [default: run until Ctrl-C].",
    )(func)


_AGO = re.compile(r"^(\d+(?:\.\d+)?)([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, now: datetime) -> datetime:
    """``--since``: ISO-8601 (an offset is honoured; none means UTC), or an age like ``30m``, ``24h``, ``7d``."""
    if match := _AGO.match(text.strip()):
        return now - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        msg = f"{text!r} is neither ISO-8601 (2026-11-29, 2026-11-29T08:00+08:00) nor an age (30m, 24h, 7d)"
        raise click.BadParameter(msg) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class SinceType(click.ParamType):
    """``--since`` of the listing commands (deadletters, alerts): ISO-8601 or an age (:func:`parse_since`)."""

    name = "TIME|AGE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        """The moment ``value`` names, aware (UTC unless it carries an offset)."""
        if isinstance(value, datetime):
            return value
        return parse_since(str(value), datetime.now(UTC))


SINCE = SinceType()


def check_agency(agency: str, known: Sequence[str]) -> None:
    """Refuse an ``--agency`` not in ``known``, naming the closest ids (any case) or the known ones."""
    if agency in known:
        return
    by_lower = {name.lower(): name for name in known}
    close = [by_lower[m] for m in difflib.get_close_matches(agency.lower(), list(by_lower), n=3, cutoff=0.6)]
    if close:
        hint = f"did you mean {', '.join(close)}?"
    elif known:
        hint = f"known agencies: {', '.join(known[:20])}{' ...' if len(known) > 20 else ''}"
    else:
        hint = "no agency is known yet: import or run something first"
    msg = f"no agency {agency!r} in the directory or the stored data; {hint}"
    raise click.BadParameter(msg, param_hint="'--agency'")
