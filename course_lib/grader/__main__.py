"""``python -m course_lib.grader`` is ``course-grade``."""
from .cli import entry_point

entry_point()
