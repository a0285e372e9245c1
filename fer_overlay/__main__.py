"""`python -m fer_overlay`: the same as the `fer-overlay` command."""

import sys

from .cli import main

sys.exit(main())
