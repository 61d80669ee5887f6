"""``python -m tunelab``: the ``tunelab`` command, for environments without the script on PATH
(a container, a machine where the package is only on ``PYTHONPATH``)."""

from tunelab.cli import main

main()
