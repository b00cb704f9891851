"""socialsched's version, one place for the package, its command line and its exports."""

__version__ = "0.1.0"
