"""``python -m rnnkit.cli``: the command line (torchrun starts ranks this way)."""

from . import main

main()
