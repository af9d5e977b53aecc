"""While the command line loads its libraries (PyTorch, SciPy: seconds), Ctrl-C and SIGTERM
end the process at once with one line: Ctrl-C exits 130, SIGTERM 143. Nothing is open yet,
and an exception raised inside a library's import can leave it half made (NumPy then fails
with a RecursionError)."""

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

MESSAGES = {signal.SIGINT: (b"benign: interrupted\n", 130)}
MESSAGES[signal.SIGTERM] = (b"benign: terminated (SIGTERM)\n", 143)


def _stop(signum: int, frame: object) -> None:
    line, code = MESSAGES[signal.Signals(signum)]
    os.write(2, line)
    os._exit(code)


@contextlib.contextmanager
def stop_at_once() -> Iterator[None]:
    """Within: Ctrl-C and SIGTERM write their line and exit. Outside the main thread (where
    signal handlers cannot be set) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _stop) for sig in MESSAGES}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:  # None: a handler not set from Python, left as it is
                signal.signal(sig, handler)
