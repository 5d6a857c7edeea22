"""``python -m chita``: the ``chita`` command line."""

import sys

from adapters.demo.cli import main

sys.exit(main())
