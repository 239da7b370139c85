"""The layout tells the architecture: small modules, small packages, and imports that run one way.

The layers (``../shared/DESIGN.md``): ``streams`` may import everything below it; ``models`` only
``sensors``; ``dashboards`` only the schema in ``sensors``; ``sensors`` nothing of openlab's but
itself. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
PACKAGES = ("sensors", "models", "dashboards", "streams", "bench", "tests")
CODE = ("sensors", "models", "dashboards", "streams", "bench")
"""The packages held to :data:`MAX_LINES` (tests are long lists of cases)."""
OURS = ("sensors", "models", "dashboards", "streams", "bench", "tests")

MAY_IMPORT = {
    "sensors": {"sensors"},
    "models": {"models", "sensors"},
    "dashboards": {"dashboards", "sensors"},
}
"""What a layer may import of openlab's own packages (the layers not named may import any)."""

MAX_LINES = 400
MAX_MODULES = 12


def _modules() -> list[Path]:
    return sorted(
        path.relative_to(REPOSITORY) for package in PACKAGES for path in (REPOSITORY / package).rglob("*.py")
    )


def _imported(path: Path) -> set[str]:
    """The openlab modules ``path`` imports, anywhere in it."""
    tree = ast.parse((REPOSITORY / path).read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name for name in names if name.split(".")[0] in OURS}


def test_the_layout_is_found() -> None:
    modules = _modules()
    assert Path("streams/pipeline/one_pass.py") in modules
    assert len(modules) > 150


@pytest.mark.parametrize("layer", sorted(MAY_IMPORT))
def test_imports_run_one_way(layer: str) -> None:
    upward = {
        f"{path} imports {name}"
        for path in _modules()
        if path.parts[0] == layer
        for name in _imported(path)
        if name.split(".")[0] not in MAY_IMPORT[layer]
    }
    assert sorted(upward) == []


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    module = tmp_path / "upward.py"
    module.write_text("def f() -> None:\n    from streams.settings import Settings\n")
    assert _imported(module) == {"streams.settings"}


def test_no_module_of_the_code_is_over_400_lines() -> None:
    long = {
        str(path): len((REPOSITORY / path).read_text().splitlines())
        for path in _modules()
        if path.parts[0] in CODE and len((REPOSITORY / path).read_text().splitlines()) > MAX_LINES
    }
    assert long == {}


def test_no_package_holds_more_than_12_modules() -> None:
    crowded = {
        str(folder): count
        for folder in {path.parent for path in _modules()}
        if (count := len(list((REPOSITORY / folder).glob("*.py")))) > MAX_MODULES
    }
    assert crowded == {}


def test_every_package_names_its_parts() -> None:
    silent = [
        str(init)
        for init in _modules()
        if init.name == "__init__.py" and not ast.get_docstring(ast.parse((REPOSITORY / init).read_text()))
    ]
    assert silent == []
