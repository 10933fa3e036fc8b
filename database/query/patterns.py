"""Vets user regex patterns before they reach MongoDB.

The embedded server matches `$regex` with Python's `re`, which has no time limit, and MongoDB's PCRE is only
bounded by `maxTimeMS`: a pattern that backtracks catastrophically must be refused here. No maintained PyPI
detector fits (regexploit, last released 2021, and dlint's `redos.detect` both let `(a*)*`, `(a|a)*` and
`(.*a){20}` through), so this module holds a small conservative structural check over `re._parser` output:

- a repeat that can iterate (max > 1) must have an unambiguous body: no alternation whose branches can start
  with the same character (or two empty branches), and no variable-width item followed by something that can
  start with a character the item can consume;
- such a repeat's body of variable width must be delimited: it starts or ends with one mandatory character
  that nothing else in the body can match (`(\\d+\\.)+` passes, `(a+)+`, `(\\w+\\s?)+` and `(.*a){20}` do not);
- two unbounded repeats may not follow one another when the second can start with a character the first can
  end with, with only optional items between them (`.*.*x`, `\\w+\\w+`, `\\d+\\.?\\d+`), and at most
  `MAX_OVERLAPPING_STARS` unbounded repeats may follow one another without a mandatory character between them
  that they cannot match (`a.*b.*c` passes, `a.*b.*c.*d` does not): each one multiplies the work by the
  subject's length, and Python's `re` already takes seconds for `a.*b.*c.*d` over 1,000 characters.

Character classes are over-approximated (anything non-ASCII counts as a word and digit character), so the
check errs on the side of refusing. Backreferences and conditionals (matching with them is NP-hard, and they
defeat this check) and the Python-only inline flags `(?a)`/`(?L)` (PCRE has no such thing) are refused too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

try:
    import re._constants as sre
    import re._parser as sre_parse
except ImportError:  # Python 3.10
    import sre_constants as sre
    import sre_parse

from database.errors import PatternError

MAX_PATTERN_LENGTH = 512
MAX_OVERLAPPING_STARS = 2

_MAX_CHAR = 0x10FFFF
_Chars = tuple[tuple[int, int], ...]
_ALL: _Chars = ((0, _MAX_CHAR),)
_NONE: _Chars = ()
_NO_OP = object()
_ATOMIC = getattr(sre, "ATOMIC_GROUP", _NO_OP)
_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", _NO_OP))
_SINGLE = (sre.LITERAL, sre.NOT_LITERAL, sre.IN, sre.ANY)
_REFUSED_OPS = {sre.GROUPREF: "backreferences", sre.GROUPREF_EXISTS: "conditional groups"}


def _norm(ranges) -> _Chars:
    out: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return tuple((lo, hi) for lo, hi in out)


def _complement(chars: _Chars) -> _Chars:
    out, nxt = [], 0
    for lo, hi in chars:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= _MAX_CHAR:
        out.append((nxt, _MAX_CHAR))
    return tuple(out)


def _union(*sets: _Chars) -> _Chars:
    return _norm([r for s in sets for r in s])


def _overlap(a: _Chars, b: _Chars) -> bool:
    return any(lo1 <= hi2 and lo2 <= hi1 for lo1, hi1 in a for lo2, hi2 in b)


# Python's `\s` for str patterns, exactly; `\w` and `\d` are over-approximated as "ASCII ones or any
# non-ASCII character that is not a space".
_SPACE = _norm([(9, 13), (28, 32), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A),
                (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000)])
_NON_ASCII_NON_SPACE = _norm(r for r in _complement(_SPACE) if r[0] >= 128)
_ASCII_WORD = _norm([(48, 57), (65, 90), (95, 95), (97, 122)])
_CATEGORIES = {
    sre.CATEGORY_DIGIT: _union(((48, 57),), _NON_ASCII_NON_SPACE),
    sre.CATEGORY_NOT_DIGIT: _complement(((48, 57),)),
    sre.CATEGORY_SPACE: _SPACE,
    sre.CATEGORY_NOT_SPACE: _complement(_SPACE),
    sre.CATEGORY_WORD: _union(_ASCII_WORD, _NON_ASCII_NON_SPACE),
    sre.CATEGORY_NOT_WORD: _complement(_ASCII_WORD),
}
# Subsets of the same categories, for negated classes: what `[^...]` matches is over-approximated by the
# complement of what its members surely match.
_CATEGORIES_SURE = {
    sre.CATEGORY_DIGIT: ((48, 57),),
    sre.CATEGORY_NOT_DIGIT: _complement(_CATEGORIES[sre.CATEGORY_DIGIT]),
    sre.CATEGORY_SPACE: _SPACE,
    sre.CATEGORY_NOT_SPACE: _complement(_SPACE),
    sre.CATEGORY_WORD: _ASCII_WORD,
    sre.CATEGORY_NOT_WORD: _complement(_CATEGORIES[sre.CATEGORY_WORD]),
}


def _fold_case(chars: _Chars) -> _Chars:
    extra = []
    for lo, hi in chars:
        for first, last, shift in ((65, 90, 32), (97, 122, -32)):
            a, b = max(lo, first), min(hi, last)
            if a <= b:
                extra.append((a + shift, b + shift))
    return _union(chars, tuple(extra))


class _Checker:
    def __init__(self, ignore_case: bool):
        self.ignore_case = ignore_case

    def single(self, op, av) -> _Chars:
        if op is sre.ANY:
            return _ALL
        if op is sre.LITERAL:
            chars = ((av, av),)
        elif op is sre.NOT_LITERAL:
            return _complement(((av, av),))  # with ignore_case it matches fewer characters, never more
        else:
            negate = any(o is sre.NEGATE for o, _ in av)
            parts: list[_Chars] = []
            for o, a in av:
                if o is sre.LITERAL:
                    parts.append(((a, a),))
                elif o is sre.RANGE:
                    parts.append((a,))
                elif o is sre.CATEGORY:
                    parts.append(_CATEGORIES_SURE.get(a, _NONE) if negate else _CATEGORIES.get(a, _ALL))
                elif o is not sre.NEGATE:
                    return _ALL
            chars = _union(*parts)
            if negate:
                return _complement(chars)
        return _fold_case(chars) if self.ignore_case else chars

    def first(self, seq) -> tuple[_Chars, bool]:
        """The characters a match of `seq` can start with, and whether it can match the empty string."""
        acc: _Chars = _NONE
        for op, av in seq:
            f, nullable = self.first_item(op, av)
            acc = _union(acc, f)
            if not nullable:
                return acc, False
        return acc, True

    def first_item(self, op, av) -> tuple[_Chars, bool]:
        if op in _SINGLE:
            return self.single(op, av), False
        if op is sre.SUBPATTERN:
            return self.first(av[3])
        if op is _ATOMIC:
            return self.first(av)
        if op in _REPEATS:
            f, nullable = self.first(av[2])
            return f, nullable or av[0] == 0
        if op is sre.BRANCH:
            firsts = [self.first(alt) for alt in av[1]]
            return _union(*(f for f, _ in firsts)), any(n for _, n in firsts)
        return _NONE, True  # anchors and lookarounds consume nothing

    def chars(self, seq) -> _Chars:
        """Every character a match of `seq` can consume."""
        parts: list[_Chars] = []
        for op, av in seq:
            if op in _SINGLE:
                parts.append(self.single(op, av))
            elif op is sre.SUBPATTERN:
                parts.append(self.chars(av[3]))
            elif op is _ATOMIC:
                parts.append(self.chars(av))
            elif op in _REPEATS:
                parts.append(self.chars(av[2]))
            elif op is sre.BRANCH:
                parts.extend(self.chars(alt) for alt in av[1])
        return _union(*parts)

    def ambiguous(self, seq) -> bool:
        """Whether `seq` can match one string in more than one way (over-approximated)."""
        for i, (op, av) in enumerate(seq):
            if op is sre.BRANCH:
                firsts = [self.first(alt) for alt in av[1]]
                for j, (f1, n1) in enumerate(firsts):
                    for f2, n2 in firsts[j + 1:]:
                        if (n1 and n2) or _overlap(f1, f2):
                            return True
            if any(self.ambiguous(sub) for sub in _children(op, av)):
                return True
            lo, hi = _width(op, av)
            if lo != hi and i + 1 < len(seq) and _overlap(self.chars([(op, av)]), self.first(seq[i + 1:])[0]):
                return True
        return False

    def delimited(self, body) -> bool:
        seq = list(body)
        while len(seq) == 1 and seq[0][0] is sre.SUBPATTERN:
            seq = list(seq[0][1][3])
        for index in (0, -1):
            if len(seq) > 1 and seq[index][0] in _SINGLE:
                op, av = seq[index]
                rest = seq[1:] if index == 0 else seq[:-1]
                if not _overlap(self.single(op, av), self.chars(rest)):
                    return True
        return False

    def last(self, seq) -> _Chars:
        """The characters a match of `seq` can end with."""
        acc: _Chars = _NONE
        for op, av in reversed(seq):
            subs = _children(op, av) if op not in (sre.ASSERT, sre.ASSERT_NOT) else []
            acc = _union(acc, self.single(op, av) if op in _SINGLE else _union(*map(self.last, subs)))
            if _width(op, av)[0] > 0:
                break
        return acc

    def check(self, seq, scan: _Scan | None = None) -> str | None:
        """The reason `seq` may backtrack catastrophically, or None. `scan` carries what precedes `seq`."""
        scan = scan if scan is not None else _Scan()
        for op, av in seq:
            if op in _REFUSED_OPS:
                return f"{_REFUSED_OPS[op]} are not supported"
            if op is sre.SUBPATTERN or op is _ATOMIC:  # groups match in line
                reason = self.check(av[3] if op is sre.SUBPATTERN else av, scan)
            elif op in (sre.ASSERT, sre.ASSERT_NOT):
                reason = self.check(av[1])
            elif op is sre.BRANCH:
                outcomes = [scan.copy() for _ in av[1]]
                reason = next((r for r in map(self.check, av[1], outcomes) if r), None)
                scan.merge(outcomes)
            elif op in _REPEATS:
                reason = self.check_repeat(av, scan)
            else:
                reason = None
                if op in _SINGLE:
                    scan.mandatory(self.single(op, av))
            if reason:
                return reason
        return None

    def check_repeat(self, av, scan: _Scan) -> str | None:
        lo, hi, body = av
        if hi > 1:
            if self.ambiguous(body):
                return "pattern may backtrack catastrophically"
            width = body.getwidth()
            if width[0] != width[1] and not self.delimited(body):
                return "pattern may backtrack catastrophically"
        if hi != sre.MAXREPEAT:  # a bounded repeat of a fixed-width body: its body runs in line
            skipped = scan.copy()
            reason = self.check(body, scan)
            if lo == 0:
                scan.merge([scan.copy(), skipped])
            return reason
        if _overlap(scan.star_end, self.first(body)[0]):  # `.*.*x`, `\w+\w+`, `\d+\.?\d+`
            return "pattern may backtrack catastrophically"
        chars = self.chars(body)
        if scan.chain and _overlap(chars, scan.chain_chars):
            scan.chain, scan.chain_chars = scan.chain + 1, _union(scan.chain_chars, chars)
        else:
            scan.chain, scan.chain_chars = 1, chars
        if scan.chain > MAX_OVERLAPPING_STARS:
            return "pattern may backtrack catastrophically"
        scan.star_end = self.last(body)
        return self.check(body)


@dataclass
class _Scan:
    """What the items scanned so far leave for the next one."""

    chain: int = 0  # unbounded repeats in a row with no mandatory character between them that they cannot match
    chain_chars: _Chars = _NONE
    star_end: _Chars = _NONE  # how the last unbounded repeat can end, while only optional items followed it

    def copy(self) -> _Scan:
        return _Scan(self.chain, self.chain_chars, self.star_end)

    def merge(self, outcomes: list[_Scan]) -> None:
        self.chain = max(o.chain for o in outcomes)
        self.chain_chars = _union(*(o.chain_chars for o in outcomes))
        self.star_end = _union(*(o.star_end for o in outcomes))

    def mandatory(self, chars: _Chars) -> None:
        self.star_end = _NONE
        if not _overlap(chars, self.chain_chars):
            self.chain, self.chain_chars = 0, _NONE


def _width(op, av) -> tuple[int, int]:
    if op in _REPEATS:
        lo, hi = av[2].getwidth()
        return lo * av[0], (hi * av[1] if av[1] != sre.MAXREPEAT else sre.MAXREPEAT)
    if op is sre.SUBPATTERN:
        return av[3].getwidth()
    if op is _ATOMIC:
        return av.getwidth()
    if op is sre.BRANCH:
        widths = [alt.getwidth() for alt in av[1]]
        return min(w[0] for w in widths), max(w[1] for w in widths)
    if op in _SINGLE:
        return 1, 1
    return 0, 0


def _children(op, av) -> list:
    """The sub-sequences of one parsed item."""
    if op is sre.SUBPATTERN:
        return [av[3]]
    if op in _REPEATS:
        return [av[2]]
    if op is sre.BRANCH:
        return list(av[1])
    if op in (sre.ASSERT, sre.ASSERT_NOT):
        return [av[1]]
    if op is _ATOMIC:
        return [av]
    return []


def _has_flag(seq, flag: int) -> bool:
    return any(
        (op is sre.SUBPATTERN and av[1] & flag) or any(_has_flag(sub, flag) for sub in _children(op, av))
        for op, av in seq
    )


def _keep_branches(pattern: str) -> str:
    """`pattern` with an empty capturing group after each `|`, for analysis only.

    Python's parser merges `(\\d|\\w)` into the class `[\\d\\w]` and factors `(ab|ac)` into `a(?:b|c)`; PCRE does
    neither, so the alternation it backtracks over must stay visible.
    """
    out, i, in_class = [], 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            j = i + 1 + (pattern[i + 1:i + 2] == "^")
            if pattern[j:j + 1] == "]":
                out.append(pattern[i:j + 1])
                i = j + 1
                continue
        elif c == "|":
            c = "|()"
        out.append(c)
        i += 1
    return "".join(out)


def vet_pattern(pattern: Any, field: str, *, ignore_case: bool = False,
                max_length: int = MAX_PATTERN_LENGTH) -> str:
    """Returns `pattern` if it is safe to send to MongoDB as a `$regex`, else raises PatternError.

    `ignore_case` says the query will add the `i` option.
    """
    if not isinstance(pattern, str):
        raise PatternError("pattern must be a string", field=field, pattern=pattern)
    if len(pattern) > max_length:
        raise PatternError(f"pattern longer than {max_length} characters", field=field)
    try:
        re.compile(pattern)
        parsed = sre_parse.parse(_keep_branches(pattern), re.IGNORECASE if ignore_case else 0)
    except (re.error, RecursionError, OverflowError) as exc:
        raise PatternError(str(exc), field=field, pattern=pattern) from exc
    flags = parsed.state.flags
    if flags & (re.ASCII | re.LOCALE) or _has_flag(parsed, re.ASCII | re.LOCALE):
        raise PatternError("inline flags a and L are not supported", field=field, pattern=pattern)
    ignore_case = ignore_case or bool(flags & re.IGNORECASE) or _has_flag(parsed, re.IGNORECASE)
    reason = _Checker(ignore_case).check(parsed)
    if reason:
        raise PatternError(reason, field=field, pattern=pattern)
    return pattern


# The longest $regex the embedded database accepts (MongoDB's own limit is far higher, 32,764 bytes).
DATABASE_PATTERN_LIMIT = 1000


def escape_literal(text: str, field: str = "search_text") -> str:
    """`text` as a pattern that matches it literally (regex metacharacters escaped); PatternError (400/21)
    when the escaped pattern is longer than the database accepts."""
    pattern = re.escape(text)
    if len(pattern) > DATABASE_PATTERN_LIMIT:
        raise PatternError(f"text longer than the database can search for ({DATABASE_PATTERN_LIMIT} characters"
                           " once escaped)", field=field)
    return pattern
