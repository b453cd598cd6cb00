"""The PySide6 user interface. It calls core and holds no business rules."""
