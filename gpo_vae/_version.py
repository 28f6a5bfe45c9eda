"""The package version (one home: the package, the simulator and reports read it here)."""

__version__ = "0.1.0"
