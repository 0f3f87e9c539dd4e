"""``python -m bench`` runs the benchmark command line."""

import sys

from .cli import main

sys.exit(main())
