"""``python -m pytest_medmodel``: see :mod:`pytest_medmodel.cli`."""

import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
