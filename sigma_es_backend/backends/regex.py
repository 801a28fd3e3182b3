"""Translate Sigma `re` values (PCRE-style, unanchored search) into Lucene RegExp syntax.

Lucene regular expressions (query_string `/…/`, DSL `regexp`, EQL `regex`, ES|QL `RLIKE`) always
match the whole value and know no inline flags, lookarounds, backreferences or anchors. The
translation is exact or it fails with `RegexTranslationError` naming the construct.
"""

from __future__ import annotations

from dataclasses import dataclass

from sigma_es_backend.backends.escaping import LUCENE_REGEXP_RESERVED, regexp_literal_char


class RegexTranslationError(ValueError):
    pass


_SHORTHAND_CLASSES = set("dDwWsS")  # Lucene 9 RegExp knows these
_CONTROL_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a", "e": "\x1b"}
_INLINE_FLAGS = set("ims")
_WHITESPACE = " \t\n\r\f\x0b"  # PCRE's \s without Unicode properties, as literal class members


@dataclass
class _Flags:
    ignore_case: bool
    multiline: bool
    dotall: bool


def translate(regex: str, ignore_case: bool = False, multiline: bool = False, dotall: bool = False,
              expand_case: bool = True, escape_delimiter: bool = True) -> str:
    """Lucene RegExp matching a whole value exactly when `regex` finds a match in it.

    `expand_case`: render case-insensitivity as character classes (for engines without a flag);
    when False the caller must apply its own case-insensitive flag.
    """
    flags = _Flags(ignore_case, multiline, dotall)
    pos = 0
    # Leading inline flags, e.g. (?i) or (?is): the only inline-flag form Sigma rules use.
    while regex.startswith("(?", pos) and pos + 2 < len(regex):
        end = regex.find(")", pos)
        group_flags = regex[pos + 2 : end] if end > 0 else ""
        if not group_flags or not set(group_flags) <= _INLINE_FLAGS:
            break
        flags.ignore_case |= "i" in group_flags
        flags.multiline |= "m" in group_flags
        flags.dotall |= "s" in group_flags
        pos = end + 1
    body = regex[pos:]
    reserved = LUCENE_REGEXP_RESERVED if escape_delimiter else LUCENE_REGEXP_RESERVED - {"/"}
    translator = _Translator(body, flags, expand_case and flags.ignore_case, reserved)
    return translator.run()


class _Translator:
    def __init__(self, src: str, flags: _Flags, expand_case: bool, reserved: frozenset[str]):
        self.src = src
        self.i = 0
        self.flags = flags
        self.expand_case = expand_case
        self.reserved = reserved
        self.depth = 0
        self.top_alternation = False

    def fail(self, what: str) -> RegexTranslationError:
        return RegexTranslationError(f"regular expression {self.src!r}: {what} has no Lucene equivalent")

    def any_char(self) -> str:
        return ".*" if self.flags.dotall else "[^\n]*"

    def run(self) -> str:
        out: list[str] = []
        anchored_start = False
        if self.src.startswith("^"):
            anchored_start = True
            self.i = 1
        body = self.sequence(top=True)
        anchored_end = body.endswith("\x00$")
        if anchored_end:
            body = body[:-2]
        if anchored_start:
            if self.flags.multiline:  # ^ also matches after any newline
                out.append("(.*\n)?")
        else:
            out.append(".*")
        out.append("(" + body + ")" if self.top_alternation else body)
        if anchored_end:
            if self.flags.multiline:
                out.append("(\n.*)?")
            else:  # PCRE's $ also matches before a final newline
                out.append("\n?")
        else:
            out.append(".*")
        return "".join(out)

    def sequence(self, top: bool = False) -> str:
        out: list[str] = []
        alternative = 0  # where the current alternative starts in out
        alternatives = False

        def close_alternative() -> None:
            # An empty alternative (`(a|)`, `(|a)`) is `()` in Lucene: a bare `|` there is a syntax error, or
            # after `(` a literal '|'.
            if alternatives and len(out) == alternative:
                out.append("()")

        while self.i < len(self.src):
            c = self.src[self.i]
            if c == ")":
                if top:
                    raise self.fail("an unbalanced ')'")
                close_alternative()
                return "".join(out)
            if c == "|":
                if top and self.depth == 0 and (self.src.startswith("^") or "$" in self.src):
                    # Alternation at top level with anchors changes which part an anchor binds to.
                    raise self.fail("top-level alternation combined with ^/$ anchors")
                if top:
                    self.top_alternation = True
                alternatives = True
                close_alternative()
                out.append("|")
                alternative = len(out)
                self.i += 1
                continue
            if c == "$":
                if top and self.i == len(self.src) - 1:
                    self.i += 1
                    out.append("\x00$")
                    continue
                raise self.fail("'$' anchor inside the expression")
            if c == "^":
                raise self.fail("'^' anchor inside the expression")
            atom = self.atom()
            out.append(atom + self.quantifier())
        if not top:
            raise self.fail("an unclosed '('")
        close_alternative()
        return "".join(out)

    def quantifier(self) -> str:
        if self.i >= len(self.src):
            return ""
        c = self.src[self.i]
        q = ""
        if c in "*+?":
            q = c
            self.i += 1
        elif c == "{":
            end = self.src.find("}", self.i)
            inner = self.src[self.i + 1 : end] if end > 0 else ""
            parts = inner.split(",")
            if end < 0 or not (1 <= len(parts) <= 2) or not parts[0].isdigit() or (
                len(parts) == 2 and parts[1] and not parts[1].isdigit()
            ):
                # PCRE treats a malformed {…} as literal text
                return ""
            q = "{" + inner + "}"
            self.i = end + 1
        else:
            return ""
        if self.i < len(self.src) and self.src[self.i] == "?":
            self.i += 1  # lazy: same set of matching values
        elif self.i < len(self.src) and self.src[self.i] == "+":
            raise self.fail("a possessive quantifier")
        return q

    def atom(self) -> str:
        c = self.src[self.i]
        if c == "(":
            return self.group()
        if c == "[":
            return self.char_class()
        if c == "\\":
            return self.escape(in_class=False)
        if c == ".":
            self.i += 1
            return "." if self.flags.dotall else "[^\n]"
        self.i += 1
        if c in "*+?{":
            if c == "{":
                return "\\{"
            raise self.fail(f"a quantifier '{c}' without anything to repeat")
        return regexp_literal_char(c, self.expand_case, self.reserved)

    def group(self) -> str:
        self.i += 1
        if self.src.startswith("?:", self.i):
            self.i += 2
        elif self.src.startswith("?P<", self.i) or self.src.startswith("?<", self.i) and not (
            self.src.startswith("?<=", self.i) or self.src.startswith("?<!", self.i)
        ):
            end = self.src.find(">", self.i)
            if end < 0:
                raise self.fail("an unterminated group name")
            self.i = end + 1
        elif self.src.startswith("?", self.i):
            raise self.fail("the group construct '(" + self.src[self.i : self.i + 3] + "'")
        self.depth += 1
        inner = self.sequence()
        self.depth -= 1
        self.i += 1  # ')'
        return "(" + inner + ")"

    def escape(self, in_class: bool) -> str:
        if self.i + 1 >= len(self.src):
            raise self.fail("a trailing backslash")
        c = self.src[self.i + 1]
        self.i += 2
        if c in _SHORTHAND_CLASSES:
            if in_class and c in "DWS":
                raise self.fail(f"'\\{c}' inside a character class")
            if c in "sS":  # Lucene's \s is [ \t\n\r]; PCRE's (and Python's) also has \f and \v (VT)
                return _WHITESPACE if in_class else "[" + ("^" if c == "S" else "") + _WHITESPACE + "]"
            return "\\" + c
        if c in _CONTROL_ESCAPES:
            return self.literal(_CONTROL_ESCAPES[c], in_class)
        if c == "x":
            return self.literal(chr(int(self.hex_digits(2), 16)), in_class)
        if c == "u":
            return self.literal(chr(int(self.hex_digits(4), 16)), in_class)
        if c.isdigit():
            if c == "0":
                return self.literal("\0", in_class)
            raise self.fail("a backreference")
        if c.isalpha():
            raise self.fail(f"the escape '\\{c}'")
        return self.literal(c, in_class)

    def hex_digits(self, count: int) -> str:
        digits = self.src[self.i : self.i + count]
        if len(digits) != count or any(d not in "0123456789abcdefABCDEF" for d in digits):
            raise self.fail("a malformed hex escape")
        self.i += count
        return digits

    def literal(self, ch: str, in_class: bool) -> str:
        if in_class:
            return "\\" + ch if ch in "\\]^-[" or ch in self.reserved else ch
        return regexp_literal_char(ch, self.expand_case, self.reserved)

    def char_class(self) -> str:
        self.i += 1
        negate = False
        if self.i < len(self.src) and self.src[self.i] == "^":
            negate = True
            self.i += 1
        items: list[str] = []
        extra: list[str] = []
        first = True
        while True:
            if self.i >= len(self.src):
                raise self.fail("an unclosed '['")
            c = self.src[self.i]
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            if c == "[" and self.src.startswith("[:", self.i):
                raise self.fail("a POSIX character class")
            if c == "\\":
                items.append(self.escape(in_class=True))
                continue
            self.i += 1
            # range a-z
            if self.i + 1 < len(self.src) and self.src[self.i] == "-" and self.src[self.i + 1] != "]":
                hi = self.src[self.i + 1]
                if hi == "\\":
                    raise self.fail("a range ending in an escape inside a character class")
                self.i += 2
                items.append(self.literal(c, True) + "-" + self.literal(hi, True))
                if self.expand_case:
                    if c.isascii() and hi.isascii() and c.isalpha() and hi.isalpha():
                        extra.append(self.literal(c.swapcase(), True) + "-" + self.literal(hi.swapcase(), True))
                    elif any(ch.isalpha() for ch in map(chr, range(ord(c), ord(hi) + 1))):
                        raise self.fail("a case-insensitive non-ASCII range")
                continue
            items.append(self.literal(c, True))
            if self.expand_case and c.lower() != c.upper():
                extra.extend(self.literal(v, True) for v in {c.lower(), c.upper()} - {c} if len(v) == 1)
        body = "".join(items + extra)
        if negate and ("\n" not in body) and not self.flags.dotall:
            pass  # PCRE's negated classes match newlines too: nothing to add
        return "[" + ("^" if negate else "") + body + "]"
