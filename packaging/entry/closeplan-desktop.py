"""PyInstaller entry point of the GUI, closeplan-desktop (same as the gui-script)."""

import sys

from closeplan_desktop.app import main

if __name__ == "__main__":
    sys.exit(main())
