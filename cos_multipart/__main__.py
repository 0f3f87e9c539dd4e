"""``python -m cos_multipart`` runs the command line."""

import sys

from .cli import main

sys.exit(main())
