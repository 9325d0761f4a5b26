"""Support for the hidden tests of the graded notebooks (see :mod:`course_lib.grading.compare`)."""
from .compare import *  # noqa: F401,F403
from .compare import __all__  # noqa: F401
