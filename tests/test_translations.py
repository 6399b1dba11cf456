"""Checks of strings.json, its translations, and the translation keys the code uses.

Used keys are found from the code itself, never from a list kept here: the entity
descriptions and camlib's REASON_* constants by importing the modules, everything else
by reading the syntax tree and following each key expression back to its string
literals (variables, tuple unpacking, helper functions, tables, constructor arguments).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from enum import Enum
import importlib
from importlib.util import resolve_name
import json
from pathlib import Path
import pkgutil
import re
from types import ModuleType
from typing import Any

from homeassistant.helpers.entity import EntityDescription
import pytest

from custom_components.xiaomi_cam_bridge import camlib, config_flow

ROOT = Path(__file__).parent.parent
COMPONENT = ROOT / "custom_components" / "xiaomi_cam_bridge"
STRINGS: dict[str, Any] = json.loads((COMPONENT / "strings.json").read_text(encoding="utf-8"))
EN: dict[str, Any] = json.loads(
    (COMPONENT / "translations" / "en.json").read_text(encoding="utf-8")
)
TRANSLATIONS = sorted((COMPONENT / "translations").glob("*.json"))
ENTITY_PLATFORMS = ("button", "camera", "select", "sensor", "switch")

Key = tuple[str, ...]


# -- the files themselves ---------------------------------------------------------------


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _leaves(tree: Any, path: Key = ()) -> Iterator[tuple[Key, Any]]:
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _leaves(value, (*path, key))
    else:
        yield path, tree


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_the_known_translations_are_there() -> None:
    """The glob below must see the translations shipped today (and any added later)."""
    assert {path.stem for path in TRANSLATIONS} >= {"en", "fr", "zh-Hans"}


def test_english_is_strings_json() -> None:
    """strings.json is the source; en.json mirrors it."""
    assert STRINGS == EN
    # Custom integrations do not resolve [%key:...%] references.
    assert "[%key:" not in json.dumps(EN)


@pytest.mark.parametrize("path", TRANSLATIONS, ids=lambda path: path.stem)
def test_translation_has_exactly_the_keys_of_strings_json(path: Path) -> None:
    other = _load(path)
    expected = {key for key, _ in _leaves(STRINGS)}
    found = {key for key, _ in _leaves(other)}
    assert sorted(".".join(k) for k in expected - found) == [], "missing"
    assert sorted(".".join(k) for k in found - expected) == [], "not in strings.json"
    for key, value in _leaves(other):
        assert isinstance(value, str), ".".join(key)
        assert value.strip(), ".".join(key)


@pytest.mark.parametrize("path", TRANSLATIONS, ids=lambda path: path.stem)
def test_translation_keeps_the_placeholders(path: Path) -> None:
    other = dict(_leaves(_load(path)))
    wrong = [
        ".".join(key)
        for key, text in _leaves(STRINGS)
        if key in other and _placeholders(text) != _placeholders(other[key])
    ]
    assert wrong == []


# -- keys the code uses: by importing it ----------------------------------------------


def _camlib_reasons() -> dict[str, str]:
    """camlib's REASON_* constants ({name: value}): InvalidSource reasons, form error keys."""
    reasons: dict[str, str] = {}
    for info in pkgutil.iter_modules(camlib.__path__):
        module = importlib.import_module(f"{camlib.__name__}.{info.name}")
        reasons |= {
            name: value
            for name, value in vars(module).items()
            if name.startswith("REASON_") and isinstance(value, str)
        }
    return reasons


def _entity_descriptions(module: ModuleType) -> Iterator[EntityDescription]:
    for value in vars(module).values():
        items = value if isinstance(value, tuple | list) else (value,)
        yield from (item for item in items if isinstance(item, EntityDescription))


def _imported_keys() -> set[Key]:
    keys: set[Key] = set()
    # The video steps are shared by the config and the options flow: both show them.
    for reason in _camlib_reasons().values():
        keys |= {("config", "error", reason), ("options", "error", reason)}
    for platform in ENTITY_PLATFORMS:
        module = importlib.import_module(f"{config_flow.__package__}.{platform}")
        for description in _entity_descriptions(module):
            assert description.translation_key, description.key
            keys.add(("entity", platform, description.translation_key))
            for option in getattr(description, "options", None) or ():
                keys.add(("entity", platform, description.translation_key, "state", option))
    # The selector's options come from an enum, not from literals.
    selector = config_flow._SOURCE_SELECTOR.config
    for option in selector["options"]:
        value = option.value if isinstance(option, Enum) else option
        keys.add(("selector", selector["translation_key"], "options", str(value)))
    return keys


# -- keys the code uses: by reading its syntax tree -------------------------------------


class _Module:
    """One source file, with what is needed to follow an expression to its values."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.package = config_flow.__package__ or ""
        self.tree = ast.parse(path.read_text(encoding="utf-8"))
        self.parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node
        self.functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                self.functions.setdefault(node.name, node)

    def scopes(self, node: ast.AST) -> Iterator[ast.AST]:
        """The functions around a node, innermost first, then the module."""
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Module):
                yield node

    def enclosing_class(self, node: ast.AST) -> ast.ClassDef | None:
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, ast.ClassDef):
                return node
        return None

    def strings(self, expr: ast.AST) -> set[str]:
        """The string constants expr can evaluate to."""
        return {
            node.value
            for node in self.terminals(expr)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }

    def terminals(self, expr: ast.AST, index: int | None = None) -> list[ast.AST]:
        """The expressions (literals mostly) expr can evaluate to; element `index` of a tuple."""
        found: list[ast.AST] = []
        self._follow(expr, index, set(), found)
        return found

    def _follow(
        self,
        expr: ast.AST,
        index: int | None,
        seen: set[tuple[int, int | None]],
        out: list[ast.AST],
    ) -> None:
        if (id(expr), index) in seen:
            return
        seen.add((id(expr), index))
        match expr:
            case ast.Tuple(elts=elts) | ast.List(elts=elts) if index is not None:
                if index < len(elts):
                    self._follow(elts[index], None, seen, out)
            case ast.IfExp(body=body, orelse=orelse):
                self._follow(body, index, seen, out)
                self._follow(orelse, index, seen, out)
            case ast.BoolOp(values=values):
                for value in values:
                    self._follow(value, index, seen, out)
            case ast.Await(value=value) | ast.NamedExpr(value=value):
                self._follow(value, index, seen, out)
            case ast.GeneratorExp(elt=elt) | ast.ListComp(elt=elt) if index is None:
                self._follow(elt, None, seen, out)
            case ast.Name(id=name):
                bindings = list(self._bindings(expr, name))
                for bound, element in bindings:
                    self._follow(bound, element if index is None else index, seen, out)
                if not bindings and (imported := self._imported(name)) is not None:
                    out.append(imported)
            case ast.Call(func=ast.Name(id=name) | ast.Attribute(attr=name)) if (
                name in self.functions
            ):
                for node in ast.walk(self.functions[name]):
                    if isinstance(node, ast.Return) and node.value is not None:
                        self._follow(node.value, index, seen, out)
            case ast.Call(func=ast.Name(id="next"), args=args):
                for arg in args:
                    self._follow(arg, index, seen, out)
            case _ if index is None:
                out.append(expr)

    def _imported(self, name: str) -> ast.Constant | None:
        """The value of a string constant this module imports under `name`."""
        for node in self.tree.body:
            if not isinstance(node, ast.ImportFrom):
                continue
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    source = resolve_name("." * node.level + (node.module or ""), self.package)
                    value = getattr(importlib.import_module(source), alias.name, None)
                    return ast.Constant(value) if isinstance(value, str) else None
        return None

    def _bindings(self, where: ast.AST, name: str) -> Iterator[tuple[ast.AST, int | None]]:
        """(expression, tuple index) pairs that `name` is bound to, seen from `where`."""
        for scope in self.scopes(where):
            found = list(self.bindings_in(scope, name))
            if found:
                yield from found
                return

    def bindings_in(self, scope: ast.AST, name: str) -> Iterator[tuple[ast.AST, int | None]]:
        nodes = iter(scope.body) if isinstance(scope, ast.Module) else ast.walk(scope)
        for node in nodes:
            match node:
                case ast.Assign(targets=targets, value=value):
                    for target in targets:
                        yield from _bound(target, name, value)
                case ast.AnnAssign(target=target, value=value) if value is not None:
                    yield from _bound(target, name, value)
                case ast.NamedExpr(target=target, value=value):
                    yield from _bound(target, name, value)
                case (
                    ast.For(target=target, iter=iterable)
                    | ast.comprehension(target=target, iter=iterable)
                ) if any(_bound(target, name, target)):
                    for element in self._elements(iterable, set()):
                        yield from _bound(target, name, element)
        if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from self._arguments(scope, name)

    def _elements(self, iterable: ast.AST, seen: set[int]) -> Iterator[ast.AST]:
        """The element expressions of a literal tuple or list, directly or through a name."""
        if id(iterable) in seen:
            return
        seen.add(id(iterable))
        if isinstance(iterable, ast.Tuple | ast.List):
            for element in iterable.elts:
                if isinstance(element, ast.Starred):
                    yield from self._elements(element.value, seen)
                else:
                    yield element
        elif isinstance(iterable, ast.Name):
            for value, index in self._bindings(iterable, iterable.id):
                if index is None:
                    yield from self._elements(value, seen)

    def _arguments(
        self, function: ast.FunctionDef | ast.AsyncFunctionDef, name: str
    ) -> Iterator[tuple[ast.AST, None]]:
        """What the module's callers pass for a parameter (a class's __init__: its calls)."""
        params = [arg.arg for arg in (*function.args.posonlyargs, *function.args.args)]
        if name not in params and name not in {arg.arg for arg in function.args.kwonlyargs}:
            return
        callee = function.name
        owner = self.parents.get(function)
        callers: ast.AST = self.tree
        if isinstance(owner, ast.ClassDef):
            params = params[1:]  # self
            if callee == "__init__":
                callee = owner.name
            else:
                # Another class's method of the same name is not this one: only self.x().
                callers = owner
        for node in ast.walk(callers):
            if not isinstance(node, ast.Call) or _call_name(node) != callee:
                continue
            if callers is owner and not (
                isinstance(node.func, ast.Attribute) and ast.unparse(node.func.value) == "self"
            ):
                continue
            if name in params and params.index(name) < len(node.args):
                yield node.args[params.index(name)], None
            yield from ((kw.value, None) for kw in node.keywords if kw.arg == name)


def _bound(target: ast.AST, name: str, value: ast.AST) -> Iterator[tuple[ast.AST, int | None]]:
    if isinstance(target, ast.Name) and target.id == name:
        yield value, None
    elif isinstance(target, ast.Tuple):
        for index, element in enumerate(target.elts):
            if isinstance(element, ast.Name) and element.id == name:
                yield value, index


def _call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else ""


def _resolve(module: _Module, expr: ast.AST, where: str) -> set[str]:
    found = module.strings(expr)
    # A key expression the scan cannot follow would check nothing: make it say so.
    assert found, f"{where}: cannot find the keys of {ast.unparse(expr)}"
    return found


def _form_errors(module: _Module) -> Iterator[tuple[ast.AST, ast.AST]]:
    """(site, value expression) of each form error key: what `errors` variables hold."""
    for node in ast.walk(module.tree):
        match node:
            case ast.Assign(targets=targets, value=value):
                for target in targets:
                    if isinstance(target, ast.Subscript) and ast.unparse(target.value).endswith(
                        "errors"
                    ):
                        yield node, value
            case ast.keyword(arg="errors", value=ast.Dict() as value):
                yield value, value
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for bound, index in module.bindings_in(node, "errors"):
                for terminal in module.terminals(bound, index):
                    if isinstance(terminal, ast.Dict):
                        yield from ((node, v) for v in terminal.values)


def _flows(module: _Module, site: ast.AST) -> tuple[str, ...]:
    """The flows whose form shows an error raised at site: the shared video steps, both."""
    owner = module.enclosing_class(site) if not isinstance(site, ast.ClassDef) else site
    bases = {ast.unparse(base) for base in owner.bases} if owner is not None else set()
    if "ConfigFlow" in bases:
        return ("config",)
    if "OptionsFlow" in bases:
        return ("options",)
    return ("config", "options")


def _scanned_keys() -> set[Key]:
    used: set[Key] = set()
    for path in sorted(COMPONENT.glob("*.py")):
        module = _Module(path)
        where = path.name
        for call in (n for n in ast.walk(module.tree) if isinstance(n, ast.Call)):
            name = _call_name(call)
            for keyword in call.keywords:
                site = f"{where}:{call.lineno}"
                if keyword.arg == "translation_key":
                    if name.endswith("EntityDescription") and path.stem in ENTITY_PLATFORMS:
                        # Keys built per setting (f-strings, enum fields): the imported
                        # descriptions check them all.
                        used |= {("entity", path.stem, k) for k in module.strings(keyword.value)}
                    elif name == "SelectSelectorConfig":
                        used |= {("selector", k) for k in _resolve(module, keyword.value, site)}
                    elif name == "async_create_issue":
                        used |= {("issues", k) for k in _resolve(module, keyword.value, site)}
                    elif any(kw.arg == "translation_domain" for kw in call.keywords):
                        used |= {("exceptions", k) for k in _resolve(module, keyword.value, site)}
                    else:
                        pytest.fail(f"{site}: what does the translation_key of {name} name?")
                elif keyword.arg == "reason" and path.stem == "config_flow":
                    used |= {("config", "abort", k) for k in _resolve(module, keyword.value, site)}
        if path.stem == "config_flow":
            for error_site, value in _form_errors(module):
                if isinstance(value, ast.Attribute) and value.attr == "reason":
                    continue  # InvalidSource.reason: camlib's REASON_*, imported above
                keys = _resolve(module, value, f"{where}:{getattr(value, 'lineno', '?')}")
                flows = _flows(module, error_site)
                used |= {(flow, "error", key) for flow in flows for key in keys}
    return used


def _missing(used: Iterable[Key], strings: dict[str, Any]) -> list[str]:
    missing = []
    for key in used:
        node: Any = strings
        for part in key:
            if not isinstance(node, dict) or part not in node:
                missing.append(".".join(key))
                break
            node = node[part]
    return sorted(missing)


def test_the_scan_finds_every_kind_of_key() -> None:
    """The scan itself works: it sees keys of each kind, through each kind of indirection."""
    used = _scanned_keys() | _imported_keys()
    sections = {key[:2] if key[0] in {"config", "options"} else key[:1] for key in used}
    assert sections >= {
        ("config", "abort"),
        ("config", "error"),
        ("options", "error"),
        ("entity",),
        ("exceptions",),
        ("issues",),
        ("selector",),
    }
    # One of each indirection: a table with a default (entity.py), a parameter filled by
    # the callers (google.py), helpers returning tuples (google.py), a walrus over a
    # helper returning a table's entry (config_flow.py), an f-string built key (button.py).
    assert {
        ("exceptions", "command_failed"),
        ("exceptions", "command_wrong_device"),
        ("exceptions", "camera_off"),
        ("issues", "google_no_url"),
        ("issues", "google_stream_audio"),
        ("config", "error", "stream_auth"),
        ("config", "error", "stream_unreachable"),
        ("entity", "button", "rotate_left"),
    } <= used
    assert len(_camlib_reasons()) >= 5


def test_every_translation_key_used_exists() -> None:
    used = _scanned_keys() | _imported_keys()
    assert _missing(used, STRINGS) == []


def test_every_icon_translation_has_an_entity() -> None:
    icons = json.loads((COMPONENT / "icons.json").read_text(encoding="utf-8"))
    for platform, entries in icons.get("entity", {}).items():
        for key in entries:
            assert key in EN["entity"][platform], f"{platform}.{key}"
