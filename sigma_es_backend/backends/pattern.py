"""Sigma string values as a neutral pattern: literal text and Sigma wildcards.

Every backend renders the same `Pattern` into its own syntax (see `escaping.py`), so the meaning of
a Sigma value (which characters are wildcards, which are literal) is decided once, here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum

from sigma.exceptions import SigmaValueError
from sigma.types import Placeholder, SigmaString, SpecialChars

from sigma_es_backend.backends.typetests import IS_CASED_STRING


class Wildcard(Enum):
    MULTI = "*"
    SINGLE = "?"

    # The members are singletons: identity hashing (in C) instead of Enum's hash of the name, a Python call
    # for every wildcard whenever a pattern is hashed (the escaping and query memos key on patterns).
    __hash__ = object.__hash__


PatternPart = str | Wildcard


@dataclass(frozen=True)
class Pattern:
    """A Sigma string value: a sequence of literal characters (merged into str runs) and wildcards."""

    parts: tuple[PatternPart, ...]
    cased: bool = False

    @classmethod
    def from_sigma(cls, value: SigmaString) -> Pattern:
        """The pattern of a SigmaString; bulk conversion meets the same values in many rules, so patterns
        are kept by the value's parts (values holding a placeholder, which is unhashable, are not)."""
        cased = IS_CASED_STRING[type(value)]
        if not MEMOISE:
            return cls._from_parts(value.s, cased)
        key = (tuple(value.s), cased)
        try:
            return _FROM_SIGMA[key]
        except KeyError:
            pattern = _FROM_SIGMA[key] = cls._from_parts(value.s, cased)
            if len(_FROM_SIGMA) > _FROM_SIGMA_LIMIT:
                _FROM_SIGMA.clear()
            return pattern
        except TypeError:  # a placeholder in the value
            return cls._from_parts(value.s, cased)

    @classmethod
    def _from_parts(cls, sigma_parts: Sequence[object], cased: bool) -> Pattern:
        parts: list[PatternPart] = []
        for part in sigma_parts:  # strings first: most parts are
            if isinstance(part, str):
                if parts and isinstance(parts[-1], str):
                    parts[-1] += part
                elif part:
                    parts.append(part)
            elif isinstance(part, Placeholder):
                raise SigmaValueError(
                    f"placeholder %{part.name}% has no value: give the pipeline a variable '{part.name}' "
                    "and a value_placeholders transformation (or another placeholder transformation)"
                )
            elif part is SpecialChars.WILDCARD_MULTI:
                parts.append(Wildcard.MULTI)
            elif part is SpecialChars.WILDCARD_SINGLE:
                parts.append(Wildcard.SINGLE)
            else:  # pragma: no cover - pySigma adds no other special characters today
                raise SigmaValueError(f"unsupported special character {part!r} in value")
        return cls(tuple(parts), cased=cased)

    @classmethod
    def literal(cls, text: str, cased: bool = False) -> Pattern:
        return cls((text,) if text else (), cased=cased)

    # --- shape queries used to pick the cheapest exact query ---------------------------------
    @property
    def has_wildcards(self) -> bool:
        return any(isinstance(p, Wildcard) for p in self.parts)

    @property
    def text(self) -> str:
        """The literal characters with the wildcards left out (the whole value when it has none)."""
        return "".join([p for p in self.parts if isinstance(p, str)])  # a list: joined faster than a generator

    def is_prefix(self) -> bool:
        """`literal*`: one trailing multi-wildcard and no other wildcard."""
        return (
            len(self.parts) >= 1
            and self.parts[-1] is Wildcard.MULTI
            and not Pattern(self.parts[:-1]).has_wildcards
        )

    def is_match_all(self) -> bool:
        return bool(self.parts) and all(p is Wildcard.MULTI for p in self.parts)

    def chars(self) -> Iterator[PatternPart]:
        """Literal characters one by one, wildcards as they are."""
        for part in self.parts:
            if isinstance(part, str):
                yield from part
            else:
                yield part

    def lower(self) -> Pattern:
        return Pattern(tuple(p.lower() if isinstance(p, str) else p for p in self.parts), self.cased)

    def has_case(self) -> bool:
        """True when some literal character has another case form (so case handling matters)."""
        text = self.text
        if text.isascii():  # ASCII case forms are one character each: some letter ⇔ the forms differ
            return text.lower() != text.upper()
        return any(c.lower() != c.upper() for c in text)

    def has_non_ascii_case(self) -> bool:
        """True when a literal non-ASCII character has another case form. Elasticsearch's and
        OpenSearch's `case_insensitive` (DSL, EQL `:`/`like~`) folds ASCII letters only."""
        return any(not c.isascii() and c.lower() != c.upper() for c in self.text)

    def __add__(self, other: Pattern) -> Pattern:
        parts = list(self.parts)
        for part in other.parts:
            if parts and isinstance(parts[-1], str) and isinstance(part, str):
                parts[-1] += part
            else:
                parts.append(part)
        return Pattern(tuple(parts), self.cased)


# Pattern.from_sigma's memo: (SigmaString parts, cased) → Pattern; cleared when it grows past the limit.
_FROM_SIGMA: dict[tuple[tuple[object, ...], bool], Pattern] = {}
_FROM_SIGMA_LIMIT = 100_000
MEMOISE = True  # False: every pattern built anew (tests compare both)
