"""``python -m verrou.cli``: the same entry point as the ``verrou`` command."""

from verrou.cli import main

main()
