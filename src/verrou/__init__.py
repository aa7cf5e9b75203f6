"""verrou: freeze the utility of leaked identity data."""

__version__ = "0.1.0"
