"""The `benign` command (the console script and `python -m benign`). The command line is
imported here under handlers that make an interrupt while it loads (PyTorch, SciPy: seconds)
one line: Ctrl-C exits 130, SIGTERM 143. They end the process at once — nothing is open yet —
rather than raise inside a library's import, which can leave it half made."""

import os
import signal

MESSAGES = {signal.SIGINT: (b"benign: interrupted\n", 130)}
MESSAGES[signal.SIGTERM] = (b"benign: terminated (SIGTERM)\n", 143)


def _stop(signum: int, frame: object) -> None:
    line, code = MESSAGES[signal.Signals(signum)]
    os.write(2, line)
    os._exit(code)


def main() -> None:
    previous = {sig: signal.signal(sig, _stop) for sig in MESSAGES}
    from benign.cli import main as command

    for sig, handler in previous.items():
        signal.signal(sig, handler)
    command()


if __name__ == "__main__":
    main()
