"""igny8-agent: pushes each WordPress site's structure to the IGNY8 backend."""

__version__ = "0.1.0"
