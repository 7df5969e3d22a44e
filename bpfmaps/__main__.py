"""``python -m bpfmaps ...``: see :mod:`bpfmaps.cli` (:func:`~bpfmaps.cli.command`)."""

from .cli import command

command()
