"""``python -m opcount``: the same as the ``opcount`` command."""

import sys

from .cli import main

sys.exit(main())
