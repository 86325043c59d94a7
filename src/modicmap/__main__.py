"""``python -m modicmap``: the same as the ``modicmap`` command."""

from modicmap.cli.main import entry_point

entry_point()
