"""course_lib's layers for real networks: every forward/backward pair of
:mod:`course_lib.functional` as a ``torch.autograd.Function``, a differentiable function
and a Module, all generated from one table, :data:`course_lib.nn.pairs.PAIRS`.

* :mod:`.pairs`: the table (name, forward, backward, differentiable tensors, options,
  torch reference, test example);
* :mod:`.functional`: ``Conv2dFunction``, ``conv2d(x, w, b=None, stride=1, padding=0, ...)``, ...;
* :mod:`.modules`: ``Linear``, ``Conv2d``, ``MaxPool2d``, ``BatchNorm2d``, ``Dropout``, ...
  with torch's parameter names and shapes.

Every name is available here: ``course_lib.nn.conv2d``, ``course_lib.nn.Conv2d``.
"""
from . import functional, modules
from .functional import *  # noqa: F403 - the generated names, listed in functional.__all__
from .modules import *  # noqa: F403 - listed in modules.__all__
from .pairs import PAIRS, PairSpec, pair_spec

__all__ = [*functional.__all__, *modules.__all__, "PAIRS", "PairSpec", "pair_spec"]
