"""``python -m bpfmaps ...``: see :mod:`bpfmaps.cli`."""

import sys

from .cli import main

sys.exit(main())
