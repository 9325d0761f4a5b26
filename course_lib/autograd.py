"""The old name of :mod:`course_lib.nn` (the pairs as autograd Functions, functions and Modules)."""
from .nn import *  # noqa: F403
from .nn import __all__  # noqa: F401
