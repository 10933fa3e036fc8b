"""Never depend on a library's private internals: no `<object>._name` reaches into a third-party object
from database/, services/ or server/ (a library upgrade may rename or drop it without notice).

Python has no types to check here, so the rule is read off the source:
- `something._name` where `_name` is defined nowhere in our source (a private of someone else's);
- `super()._name` in a class with a base that is not ours (a library's private method overridden);
- `self._name` in such a class when our class does not define `_name` itself (its private state read).
Our own private helpers (`self._x` of our classes, module-level `_x`) are defined in our source and pass.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("database", "services", "server")
OWN_PACKAGES = {"database", "services", "server", "client", "tests", "bench"}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _trees() -> dict[str, ast.Module]:
    return {str(p.relative_to(ROOT)): ast.parse(p.read_text(), str(p))
            for folder in CHECKED for p in sorted((ROOT / folder).rglob("*.py"))}


def own_private_names(trees) -> set[str]:
    """Every private name our source defines: functions, classes, assignments, attributes it sets,
    parameters and keyword arguments (a dataclass field `_x` is set as `_x=`)."""
    names = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.alias):
                names.add(node.asname or node.name.split(".")[-1])
    return {n for n in names if _private(n)}


def _own_class_names(trees) -> set[str]:
    return {node.name for tree in trees for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}


def _third_party_imports(tree: ast.Module) -> set[str]:
    """Names a module binds to things imported from outside our packages."""
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names
                      if a.name.split(".")[0] not in OWN_PACKAGES}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] not in OWN_PACKAGES:
            bound |= {a.asname or a.name for a in node.names}
    return bound


def _base_name(base: ast.expr) -> str:
    while isinstance(base, ast.Attribute):
        base = base.value
    return base.id if isinstance(base, ast.Name) else ""


def _foreign_class_members(node: ast.ClassDef, foreign: set[str], own_classes: set[str]) -> set[str] | None:
    """What our class itself defines, when it extends a class that is not ours; None otherwise."""
    bases = [b for b in map(_base_name, node.bases) if b and b != "object"]
    if not any(b in foreign or b not in own_classes for b in bases):
        return None
    members = {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)}
    members |= {n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    members |= {t.id for n in node.body if isinstance(n, (ast.Assign, ast.AnnAssign))
                for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)}
    return members


def _reaches_in(node: ast.Attribute, foreign: set[str], own_names: set[str], class_members: set[str] | None) -> bool:
    value = node.value
    is_super = isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "super"
    if is_super or (isinstance(value, ast.Name) and value.id in ("self", "cls")):
        return class_members is not None and (is_super or node.attr not in class_members)
    if isinstance(value, ast.Name) and value.id in foreign:
        return True  # minio._x, urllib3._x, ...
    return node.attr not in own_names


def private_uses(trees: dict[str, ast.Module]) -> list[str]:
    """`path:line: expression` for each reach into a third-party object's private names."""
    own_names = own_private_names(trees.values())
    own_classes = _own_class_names(trees.values())
    found = []
    for path, tree in trees.items():
        foreign = _third_party_imports(tree)
        pending: list[tuple[ast.AST, set[str] | None]] = [(tree, None)]
        while pending:
            node, members = pending.pop()
            if isinstance(node, ast.ClassDef):
                members = _foreign_class_members(node, foreign, own_classes)
            elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and _private(node.attr)
                  and _reaches_in(node, foreign, own_names, members)):
                found.append((path, node.lineno, node.col_offset, ast.unparse(node)))
            pending += [(child, members) for child in ast.iter_child_nodes(node)]
    return [f"{path}:{line}: {text}" for path, line, _col, text in sorted(found)]


def test_no_code_reaches_into_a_librarys_private_names():
    assert private_uses(_trees()) == []


SAMPLE = '''
from minio import Minio
import urllib3

class Ours:
    def __init__(self, client):
        self._client = client
        self.client = client

    def _helper(self):
        return self._client

    def store(self):
        self._helper()
        self.client._put_object("b", "k", b"", {})
        return urllib3._collections

class Signing(Minio):
    _ours = 1

    def _build_headers(self, host, headers=None, body=None, creds=None):
        self._ours
        if self._base_url.is_https:
            return super()._build_headers(host, headers, body, creds)
'''


def test_the_check_flags_each_kind_of_private_use_and_spares_our_own():
    flagged = private_uses({"sample.py": ast.parse(SAMPLE)})
    assert [line.split(": ", 1)[1] for line in flagged] == [
        "self.client._put_object", "urllib3._collections", "self._base_url", "super()._build_headers"]
