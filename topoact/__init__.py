"""topoact: explore the shape of neural-network activations with Mapper graphs."""

__version__ = "0.2.0"


class TopoactError(Exception):
    """A user-facing error: the CLI prints its message as one line and exits non-zero."""
