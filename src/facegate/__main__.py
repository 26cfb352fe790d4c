"""``python -m facegate``: the same command line as the ``facegate`` script, for an
environment whose scripts folder is not on PATH."""

from facegate.cli import main

main()
