"""`python -m benign` is the `benign` command."""

from benign.cli import main

main()
