"""Class tests on pySigma's values, answered once per class.

pySigma's value classes derive from ABC, so each `isinstance` against one is a Python-level
`ABCMeta.__instancecheck__` call, and bulk conversion asks these few questions of every value of every
rule. The answer depends on the value's class alone (pySigma's values do not fake `__class__`), so each
test is a dict from class to answer, filled by `issubclass` (which honours ABC registrations just as
`isinstance` does) the first time a class is seen: `IS_CASED_STRING[type(value)]`.
"""

from __future__ import annotations

from sigma.types import SigmaCasedString, SigmaExpansion, SigmaFieldReference, SigmaString


class ClassTest(dict[type, bool]):
    """`test[type(value)]` is `isinstance(value, cls)`."""

    def __init__(self, cls: type):
        super().__init__()
        self.cls = cls

    def __missing__(self, value_class: type) -> bool:
        answer = self[value_class] = issubclass(value_class, self.cls)
        return answer


IS_STRING = ClassTest(SigmaString)
IS_CASED_STRING = ClassTest(SigmaCasedString)
IS_EXPANSION = ClassTest(SigmaExpansion)
IS_FIELD_REFERENCE = ClassTest(SigmaFieldReference)
