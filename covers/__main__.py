"""``python -m covers <command>``: see :mod:`covers.app.cli`."""
import sys

from covers.app.cli import main

if __name__ == "__main__":
    sys.exit(main())
