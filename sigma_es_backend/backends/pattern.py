"""Sigma string values as a neutral pattern: literal text and Sigma wildcards.

Every backend renders the same `Pattern` into its own syntax (see `escaping.py`), so the meaning of
a Sigma value (which characters are wildcards, which are literal) is decided once, here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from sigma.exceptions import SigmaValueError
from sigma.types import Placeholder, SigmaCasedString, SigmaString, SpecialChars


class Wildcard(Enum):
    MULTI = "*"
    SINGLE = "?"


PatternPart = str | Wildcard


@dataclass(frozen=True)
class Pattern:
    """A Sigma string value: a sequence of literal characters (merged into str runs) and wildcards."""

    parts: tuple[PatternPart, ...]
    cased: bool = False

    @classmethod
    def from_sigma(cls, value: SigmaString) -> Pattern:
        parts: list[PatternPart] = []
        for part in value.s:  # strings first: most parts are (a hot path of bulk conversion)
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
        return cls(tuple(parts), cased=isinstance(value, SigmaCasedString))

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
        return "".join(p for p in self.parts if isinstance(p, str))

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
        return any(c.lower() != c.upper() for c in self.text)

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
