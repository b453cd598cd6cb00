"""closeplan-desktop: the GUI's composition root (the main window lands with issue 3)."""

from __future__ import annotations

import sys


def main() -> int:
    print("The ClosePlan Desktop window is not built yet; use 'closeplan-admin' "
          "(try 'closeplan-admin demo').", file=sys.stderr)
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
