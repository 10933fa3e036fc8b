"""Every error class names its own (code, subcode): a client that tells errors apart by their numbers
(ClearML's SDK does) never mistakes one feature's refusal for another's."""

from __future__ import annotations

from collections import defaultdict

from services import errors


def test_each_error_has_its_own_code_and_subcode():
    classes = {id(c): c for c in vars(errors).values()
               if isinstance(c, type) and issubclass(c, errors.ApiError) and c is not errors.ApiError}
    by_number = defaultdict(list)
    for cls in classes.values():
        by_number[(cls.code, cls.subcode)].append(cls.__name__)
    assert len(classes) > 50
    assert {number: names for number, names in by_number.items() if len(names) > 1} == {}
