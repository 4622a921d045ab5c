"""The single source of thrifty's version (read by pyproject and written into every result file)."""

__version__ = "0.1.0"
