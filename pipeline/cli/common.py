"""What every command shares: settings from the group's options, error mapping, common options.

Imports stay light (click, pydantic-settings, the packages' error types): ``serambi --help`` must not
load Faust, Kafka clients or chDB.
"""

from __future__ import annotations

import csv
import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from connectors.core.errors import ConnectorError
from pipeline.errors import PipelineError
from pipeline.settings import Settings, load_settings
from schemas.errors import DirectoryError, SchemaDriftError

__all__ = ["LIBRARY_LOGGERS", "configure_logging", "duration_option", "friendly", "settings_epilog", "settings_of"]

F = TypeVar("F", bound=Callable[..., Any])
_USER_ERRORS = (PipelineError, ConnectorError, DirectoryError, SchemaDriftError, ValueError, csv.Error)
# Client libraries whose DEBUG records dump whole Kafka records (citizens' text, before the worker
# stores it): they never log below INFO, whatever -v says.
LIBRARY_LOGGERS = ("kafka", "aiokafka", "faust", "mode")


def configure_logging(verbose: int) -> None:
    """Logging for ``-v`` (info) and ``-vv`` (debug of Serambi's own modules, which never log event text).

    The libraries of :data:`LIBRARY_LOGGERS` are silent below ``-vv`` (they report reconnects and slow
    polls as warnings; ours say what matters) and at most at INFO with it.
    """
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for library in LIBRARY_LOGGERS:
        logging.getLogger(library).setLevel(logging.INFO if verbose >= 2 else logging.CRITICAL)


def settings_epilog() -> str:
    """The ``--help`` epilog listing every setting with its environment variable."""
    lines = ["\b", "Settings (environment, or a TOML file named by SERAMBI_CONFIG_FILE):"]
    for name, info in Settings.model_fields.items():
        lines.append(f"  SERAMBI_{name.upper():<28} {info.description or ''}".rstrip())
    return "\n".join(lines)


def settings_of(ctx: click.Context) -> Settings:
    """The process's settings, with the group's ``--data-dir`` applied."""
    root = ctx.find_root()
    return load_settings(**root.obj) if root.obj else load_settings()


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
        type=float,
        default=None,
        envvar="SERAMBI_DURATION",
        show_envvar=True,
        help="Stop after this many seconds [default: run until Ctrl-C].",
    )(func)
