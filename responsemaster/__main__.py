"""``python -m responsemaster``."""

from responsemaster.cli import main

main()
