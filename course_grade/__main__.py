"""``python -m course_grade`` is ``course-grade``."""
from .cli import entry_point

entry_point()
