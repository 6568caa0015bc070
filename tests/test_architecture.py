"""The import contracts (pyproject.toml, run by `lint-imports`) cover every module they must:
a contract that forgets a new route module or package checks nothing about it."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.database_free

SOURCE = Path(__file__).resolve().parents[1] / "src" / "linli"
PYPROJECT = SOURCE.parents[1] / "pyproject.toml"


def contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    return {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}


def module_name(path: Path) -> str:
    return ".".join(("linli", *path.relative_to(SOURCE).with_suffix("").parts))


def test_every_route_module_is_in_the_routes_contract() -> None:
    routers = {
        module_name(path)
        for path in SOURCE.rglob("*.py")
        if "APIRouter(" in path.read_text(encoding="utf-8")
    }
    assert routers
    assert routers == set(contracts()["routes"]["modules"])


def test_every_package_and_top_level_module_has_a_layer() -> None:
    layered: set[str] = set()
    for layer in contracts()["layers"]["layers"]:
        layered.update(name.strip() for name in layer.replace(":", "|").split("|"))
    present = {
        module_name(path)
        for path in SOURCE.iterdir()
        if (path.is_dir() and (path / "__init__.py").exists())
        or (path.suffix == ".py" and path.name != "__init__.py")
    }
    unlayered = sorted(present - layered - {"linli.migrations"})
    assert unlayered == [], f"add these to the layers contract in pyproject.toml: {unlayered}"


def test_no_function_hides_a_module_it_imports() -> None:
    """A local named like an imported module (`checkout = ...` next to `from linli.groupbuy
    import checkout`) turns every use of the module in that function, or in a function it
    encloses, into a NameError that no type checker reports."""
    hidden: list[str] = []
    for path in SOURCE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            (alias.asname or alias.name).split(".")[0]
            for node in tree.body
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            arguments = function.args.posonlyargs + function.args.args + function.args.kwonlyargs
            local = {a.arg for a in arguments} | {
                n.id
                for n in ast.walk(function)
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
            }
            hidden += [f"{path.name}:{function.lineno} {name}" for name in local & imported]
    assert hidden == []
