"""``python -m peygir``: the same command line as the installed ``peygir``."""

import sys

from peygir.cli import main

if __name__ == "__main__":
    sys.exit(main())
