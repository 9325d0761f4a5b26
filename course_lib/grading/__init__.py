"""Support for the hidden tests of the graded notebooks.

A hidden test computes the reference answer with ``course_lib``, calls the
student's function through :func:`call_student`, and compares with
:func:`assert_close`; :func:`compare_with_reference` does the three for one
case.  The helpers live in three modules, one per concern:

* :mod:`course_lib.grading.compare`: comparing results, with messages that name
  the function, the inputs' shapes, the first wrong index, expected and actual
  (:class:`GradingError`, :func:`assert_close`, :func:`assert_matches`,
  ``expect_tuple`` / ``expect_int`` / ``expect_dict``, :func:`describe`);
* :mod:`course_lib.grading.guard`: calling the student's code on copies of the
  inputs, with warnings and stderr swallowed, a time limit, forbidden calls
  detected and required calls checked (:func:`call_student`,
  :func:`time_limit`, :func:`forbid_calls`, :func:`must_call`,
  :func:`expect_raises`);
* :mod:`course_lib.grading.score`: partial credit, named sub-checks that score
  on their own (:class:`Checks`), and grading a function with the reference
  versions of the helpers it calls (:func:`with_names`, :func:`allow`);
* :mod:`course_lib.grading.modules`: answers that are ``torch.nn.Module`` s
  (:func:`load_reference_state`, :func:`randomize_batch_norm`, :func:`parameter_shapes`);
* :mod:`course_lib.grading.forbidden`: what an exercise forbids, named by
  topic (:func:`forbidden`, :data:`TOPICS`), the reference library found on
  disk (:func:`course_lib_functions`), and the older per-topic names
  (:func:`pooling_ops`, :func:`autograd_entry_points`, ...).

Every name is importable from ``course_lib.grading`` itself, as the notebooks do
(there ``forbidden`` is the function; its module is ``course_lib.grading.forbidden``
in ``sys.modules``).
"""
from __future__ import annotations

from .compare import (
    GradingError,
    as_strict_tensor,
    assert_close,
    assert_matches,
    describe,
    dtype_of,
    expect_dict,
    expect_dtype,
    expect_int,
    expect_tuple,
    test_devices,
)
from .forbidden import (
    TOPICS,
    autograd_entry_points,
    concat_ops,
    convolution_ops,
    course_lib_functions,
    dropout_ops,
    forbidden,
    module_functions,
    normalization_ops,
    padding_ops,
    pooling_ops,
    public_functions,
    reference_modules,
    sliding_window_ops,
)
from .guard import (
    OutOfTime,
    call_student,
    call_student_and_arguments,
    compare_with_reference,
    expect_raises,
    forbid_calls,
    must_call,
    time_limit,
    torch_op_name,
)
from .modules import load_reference_state, parameter_shapes, randomize_batch_norm
from .score import Checks, allow, with_names

__all__ = [
    "allow",
    "as_strict_tensor",
    "assert_close",
    "assert_matches",
    "autograd_entry_points",
    "call_student",
    "call_student_and_arguments",
    "Checks",
    "compare_with_reference",
    "concat_ops",
    "convolution_ops",
    "course_lib_functions",
    "describe",
    "dropout_ops",
    "dtype_of",
    "expect_dict",
    "expect_dtype",
    "expect_int",
    "expect_raises",
    "expect_tuple",
    "forbid_calls",
    "forbidden",
    "GradingError",
    "load_reference_state",
    "module_functions",
    "must_call",
    "normalization_ops",
    "OutOfTime",
    "padding_ops",
    "parameter_shapes",
    "pooling_ops",
    "public_functions",
    "randomize_batch_norm",
    "reference_modules",
    "sliding_window_ops",
    "test_devices",
    "time_limit",
    "TOPICS",
    "torch_op_name",
    "with_names",
]

# The public functions and classes report the package they are imported from, so that messages
# (and the grader's integrity report) name them ``course_lib.grading.call_student`` whichever
# module defines them.
for _name in __all__:
    _obj = globals()[_name]
    if callable(_obj) and getattr(_obj, "__module__", "").startswith(f"{__name__}."):
        _obj.__module__ = __name__
del _name, _obj
