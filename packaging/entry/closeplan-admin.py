"""PyInstaller entry point of the admin command line, closeplan-admin (same as the script)."""

import sys

from closeplan_desktop.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
