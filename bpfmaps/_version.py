"""The package version, in a leaf module: readers (``bpfmaps version``) need not
import the package's lazy re-exports.  Keep it equal to ``version`` in pyproject.toml."""

__version__ = "0.1.0"
