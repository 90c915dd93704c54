"""formcoach entry point: ``python run_coach.py --help``."""

import sys

from coach.cli import main

if __name__ == "__main__":
    sys.exit(main())
