"""Ctrl-C and SIGTERM for commands that publish (import, simulate): stop at once, keep what was published.

The first signal only sets an event the publishing loop watches (the pacer's wait ends with it), so the loop
stops between two events, the publisher flushes what it holds and the command says what state it left. The
exit code is the shell's for the signal (130 for SIGINT, 143 for SIGTERM). A second signal gets the
default behaviour: it ends the process, for when the drain itself should not be waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

__all__ = ["STOP_SIGNALS", "Interrupt", "on_loop", "stop_on_signals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class Interrupt:
    """Whether (and by which signal) a stop was requested; ``stop`` is what publishing loops wait on.

    >>> interrupt = Interrupt(); interrupt.request(signal.SIGTERM); interrupt.exit_code  # 143  # doctest: +SKIP
    """

    stop: threading.Event = field(default_factory=threading.Event)
    signum: int | None = None

    def request(self, signum: int | None = None) -> None:
        """Ask to stop; the first signal named is the one reported (none: a stop while the stack started)."""
        if self.signum is None and signum is not None:
            self.signum = signum
        self.stop.set()

    @property
    def requested(self) -> bool:
        """A stop was requested."""
        return self.stop.is_set()

    @property
    def name(self) -> str:
        """``SIGINT``/``SIGTERM``, or ``a stop request`` when no signal was named."""
        return signal.Signals(self.signum).name if self.signum is not None else "a stop request"

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as a shell reports a process ended by it (SIGINT when none was named)."""
        return 128 + (self.signum if self.signum is not None else signal.SIGINT)


@contextlib.contextmanager
def stop_on_signals(interrupt: Interrupt) -> Iterator[Interrupt]:
    """While inside: SIGINT and SIGTERM request ``interrupt``; a second one gets the default behaviour.

    Only in the main thread (signals reach no other); elsewhere it changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield interrupt
        return
    defaults: dict[signal.Signals, Callable[[int, FrameType | None], Any] | int] = {
        signal.SIGINT: signal.default_int_handler,
        signal.SIGTERM: signal.SIG_DFL,
    }

    def handler(signum: int, _frame: FrameType | None) -> None:
        interrupt.request(signum)
        for sig, default in defaults.items():
            signal.signal(sig, default)

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield interrupt
    finally:
        for sig, handler_before in previous.items():
            signal.signal(sig, handler_before)


def on_loop(interrupt: Interrupt, also: asyncio.Event) -> None:
    """On the running event loop, SIGINT and SIGTERM request ``interrupt`` and set ``also`` (the stack's stop).

    It replaces the stack's own handlers, which set ``also`` without saying which signal it was; the stack
    removes them both when it stops.
    """
    loop = asyncio.get_running_loop()
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int) -> None:
        interrupt.request(signum)
        also.set()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, handler, sig)


@contextlib.contextmanager
def raise_on_signals(interrupt: Interrupt) -> Iterator[Interrupt]:
    """While inside: SIGINT and SIGTERM request ``interrupt`` and raise :class:`KeyboardInterrupt`.

    For work that watches no event (a benchmark's phases): the exception is raised where the main thread is,
    and the context managers on the way out clean up. Only in the main thread (signals reach no other);
    elsewhere it changes nothing. A stack opened inside replaces these handlers with its own while it runs
    (see :func:`on_loop`).
    """
    if threading.current_thread() is not threading.main_thread():
        yield interrupt
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        interrupt.request(signum)
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield interrupt
    finally:
        for sig, handler_before in previous.items():
            signal.signal(sig, handler_before)
