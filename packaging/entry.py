"""Entry point of the frozen bundles: the `cratedigger` command (no arguments: the app)."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # the scan's spawned worker processes start here too
    from app.cli import main

    sys.exit(main())
