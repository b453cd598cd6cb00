"""`python -m closeplan_desktop.cli`: the same as the closeplan-admin script."""

from .main import main

main()
