"""``python -m pipeline.cli``: the same as the ``serambi`` command."""

from pipeline.cli import main

main(prog_name="serambi")
