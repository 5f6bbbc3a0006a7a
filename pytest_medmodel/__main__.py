"""``python -m pytest_medmodel diff OLD NEW``: see :mod:`pytest_medmodel.baseline_diff`."""

import sys

from .baseline_diff import main

sys.exit(main(sys.argv[1:]))
