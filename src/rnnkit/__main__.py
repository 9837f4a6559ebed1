"""``python -m rnnkit``: the command line (see :mod:`rnnkit.cli`)."""

from .cli import main

if __name__ == "__main__":
    main()
