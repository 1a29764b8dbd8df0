"""``python -m uniret.cli``: the command line (torchrun runs it this way)."""

import sys

from uniret.cli import main

sys.exit(main())
