"""Loading plugins and asking them things (the public path of
`socialsched.adapters.plugins`, where it is documented)."""

from socialsched.adapters.plugins import *  # noqa: F403
from socialsched.adapters.plugins import __all__ as __all__
