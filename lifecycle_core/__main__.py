"""Entry point: ``python -m lifecycle_core --help``."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
