"""The `benign` command (the console script and `python -m benign`). The command line is
imported, and each command's module (benign.cli.load_command), under
:func:`benign._stop.stop_at_once`: an interrupt while they load is one line."""

from benign._stop import stop_at_once


def main() -> None:
    with stop_at_once():
        from benign.cli import main as command
    command()


if __name__ == "__main__":
    main()
