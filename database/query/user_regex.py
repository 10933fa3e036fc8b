"""The one matcher for user regular expressions the server runs itself (MongoDB runs the query engine's,
under the call's deadline).

A pattern is vetted by `patterns.vet_pattern`, the same structural check the query engine applies, and then
matched by the `regex` package with a time limit: Python's `re` has none, and the structural check only
bounds the blow-up (a vetted `a.*b.*c` is still quadratic in the subject's length). Running out of time
raises PatternTimeout (a 400 naming the field), never a hung worker.
"""

from __future__ import annotations

import functools

import regex

from database.errors import PatternError, PatternTimeout
from database.query.patterns import vet_pattern


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> regex.Pattern | PatternError:
    """The compiled pattern, or the error vetting raised (cached too: a refused pattern sent again costs
    nothing)."""
    try:
        vet_pattern(pattern, "")
        return regex.compile(pattern, regex.VERSION0)  # VERSION0: the semantics of Python's `re`
    except PatternError as exc:
        return exc
    except (regex.error, RecursionError, OverflowError, ValueError) as exc:
        return PatternError(str(exc))


def compile_vetted(pattern, field: str) -> regex.Pattern:
    """`pattern` vetted and compiled; PatternError (400/21) naming `field` when it is refused."""
    if not isinstance(pattern, str):
        raise PatternError("pattern must be a string", field=field, pattern=pattern)
    compiled = _compiled(pattern)
    if isinstance(compiled, PatternError):
        raise PatternError(compiled.extra, field=field, pattern=pattern)
    return compiled


def search(pattern, subject: str, *, field: str, timeout: float) -> bool:
    """Whether `pattern` matches somewhere in `subject` (JSON Schema's `pattern` semantics), deciding within
    `timeout` seconds; PatternError when the pattern is refused, PatternTimeout when time runs out."""
    compiled = compile_vetted(pattern, field)
    if timeout <= 0:
        raise PatternTimeout("no time left to match the pattern", field=field)
    try:
        return compiled.search(subject, timeout=timeout) is not None
    except TimeoutError:
        raise PatternTimeout(f"matching took longer than {timeout:.3g} s", field=field,
                             pattern=pattern) from None
