"""The `benign` command (the console script and `python -m benign`). The command line is
imported here, where an interrupt while it loads (PyTorch, SciPy: seconds) is one line too:
Ctrl-C exits 130, SIGTERM 143."""

import signal
import sys


def _terminated(signum: int, frame: object) -> None:
    raise _Terminated


class _Terminated(BaseException):  # not an Exception: no library's handler may swallow it
    """SIGTERM while the command line loads."""


def main() -> None:
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        from benign.cli import main as command
    except KeyboardInterrupt:
        print("benign: interrupted", file=sys.stderr)
        sys.exit(130)
    except _Terminated:
        print("benign: terminated (SIGTERM)", file=sys.stderr)
        sys.exit(143)
    finally:
        signal.signal(signal.SIGTERM, previous)
    command()


if __name__ == "__main__":
    main()
