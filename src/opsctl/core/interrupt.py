"""Ctrl-C: exit 130 promptly, but never in the middle of writing a record.

Python's own SIGINT handling raises KeyboardInterrupt wherever the main thread happens
to be. click turns that into Abort (exit 1), check commands used to turn it into
UNKNOWN (exit 3, which monitoring reads as a real state), and when it lands in a
garbage-collection callback Python prints "Exception ignored" and carries on — once
with the import lock left held, so ``inspect run`` hung for good after Ctrl-C.

So the CLI installs its own handler (:func:`install`):

- Outside a critical section Ctrl-C ends the process at once with 130. That is safe
  because every store write is one SQLite transaction (an unfinished one is rolled back
  by SQLite itself) and every file is written to a temporary name and renamed.
- Inside :func:`critical` (a store write transaction, an atomic file write, the rename
  of an export's files) the exit waits until the section ends. A second Ctrl-C stops at
  once: the user insisted, and SQLite still keeps the store consistent.
- Inside :func:`raising` the old behaviour is kept: code that undoes its own steps on
  KeyboardInterrupt (a storage plan's rollback) gets its exception, and the CLI maps it
  to 130 afterwards. A second Ctrl-C stops at once there too.

Temporary files that a hard stop would leave behind are registered with
:func:`discard_on_exit` and removed before exiting.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a Ctrl-C'd command

_lock = threading.Lock()
_depth = 0          # critical sections open, all threads together
_pending = False    # a Ctrl-C arrived inside a critical section
_raising = 0        # main thread is inside raising(): Ctrl-C raises KeyboardInterrupt
_count = 0          # Ctrl-Cs seen
_installed = False
_temps: set[str] = set()


def install() -> bool:
    """Take over SIGINT unless it is ignored (nohup, a background job) or already
    someone else's. Returns whether it did.

    The decisions are taken by a watcher thread woken through ``signal.set_wakeup_fd``:
    Python runs a signal handler only when the main thread is back in the interpreter,
    and a main thread waiting inside SQLite's busy handler (up to 30 s) or another C
    call would otherwise not see Ctrl-C until that call returns.
    """
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return _installed
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return False
    r, w = os.pipe()
    os.set_blocking(w, False)
    signal.signal(signal.SIGINT, _on_sigint)
    signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    threading.Thread(target=_watch, args=(r,), name="opsctl-sigint", daemon=True).start()
    _installed = True
    return True


def installed() -> bool:
    return _installed


def _say(text: str) -> None:
    # os.write, not print: the main thread may be inside a buffered write to stderr.
    with contextlib.suppress(OSError):
        msg = "\n" + text + "\n"
        if os.isatty(2):
            msg = "\x1b[?25h" + msg  # a progress bar may have hidden the cursor
        os.write(2, msg.encode())


def _on_sigint(signum, frame) -> None:
    """Runs in the main thread once it is back in Python; only raising() acts here."""
    global _pending
    if _raising and _count <= 1:
        if _depth == 0:
            raise KeyboardInterrupt
        _pending = True  # critical() raises it when the section ends


def _watch(fd: int) -> None:
    global _pending, _count
    while True:
        try:
            data = os.read(fd, 64)
        except InterruptedError:
            continue
        except OSError:
            return
        if not data:
            return
        for signum in data:
            if signum != signal.SIGINT or signal.getsignal(signal.SIGINT) is not _on_sigint:
                continue  # another signal, or someone (the daemon) handles SIGINT now
            _count += 1
            if _count > 1:
                exit_now()  # asked twice: stop at once; SQLite keeps the store whole
            if _raising:
                _say("opsctl: interrupted: undoing the steps done (Ctrl-C again to stop "
                     "at once)")
                continue    # the main thread raises KeyboardInterrupt and rolls back
            with _lock:
                busy = _depth > 0
                if busy:
                    _pending = True
            if not busy:
                exit_now()
            _say("opsctl: interrupted: finishing the record being written (Ctrl-C again "
                 "to stop at once)")


def exit_now(message: str = "opsctl: interrupted") -> None:
    """End the process with 130 without running any more of the program (any thread).

    Buffered output is not flushed: another thread may hold the stream's lock."""
    _say(message)
    for tmp in list(_temps):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    os._exit(EXIT_INTERRUPTED)


@contextlib.contextmanager
def critical() -> Iterator[None]:
    """A stretch that must not be cut short by Ctrl-C (usable from any thread)."""
    global _depth, _pending
    with _lock:
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            due = _depth == 0 and _pending
            if due:
                _pending = False
        if due:
            if not _raising:
                exit_now()
            elif threading.current_thread() is threading.main_thread():
                raise KeyboardInterrupt
            else:
                import _thread

                _thread.interrupt_main(signal.SIGINT)  # runs _on_sigint in the main thread


@contextlib.contextmanager
def raising() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt here (main thread): for code that rolls back."""
    global _raising
    main = threading.current_thread() is threading.main_thread()
    if main:
        _raising += 1
    try:
        yield
    finally:
        if main:
            _raising -= 1


def discard_on_exit(path: str | os.PathLike) -> None:
    """Remove ``path`` if Ctrl-C stops the process before :func:`keep` is called."""
    with _lock:
        _temps.add(os.fspath(path))


def keep(path: str | os.PathLike | Path) -> None:
    with _lock:
        _temps.discard(os.fspath(path))
