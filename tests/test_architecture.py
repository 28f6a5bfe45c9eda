"""The house's rules, checked: layers only point down, and no function or module grows
past what a reader takes in at once.

Every ``import`` counts, inside functions too (a deferred import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gpo_vae"

#: Bottom to top. A module may import its own layer and the layers below it. Within the
#: base layer the foundations (errors, io, config, ...) form no cycle (checked below).
LAYERS: list[set[str]] = [
    {"_version", "errors", "constants", "io", "memory", "progress", "figures", "outputs",
     "authors_config", "config", "stats", "_settings", "jobs"},
    {"download"},
    {"data"},
    {"simulation"},
    {"models"},
    {"training"},
    {"evaluation"},
    {"design", "benchmarking", "sweep", "grn"},
    {"api"},
    {"cli", "__main__", "__init__"},
]
LAYER_OF = {unit: i for i, units in enumerate(LAYERS) for unit in units}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, path.relative_to(PACKAGE).parts


def _unit(parts: tuple[str, ...]) -> str:
    """The top-level piece a module belongs to (``data`` for ``data/prepare.py``)."""
    return parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module != "gpo_vae":
                out.append((node.lineno, node.module))
                continue
            for alias in node.names:      # from gpo_vae import stats / __version__
                submodule = (PACKAGE / alias.name).is_dir() or \
                    (PACKAGE / f"{alias.name}.py").is_file()
                out.append((node.lineno, f"gpo_vae.{alias.name}" if submodule else "gpo_vae"))
    return [(line, name) for line, name in out
            if name == "gpo_vae" or name.startswith("gpo_vae.")]


def test_every_piece_has_a_layer():
    units = {_unit(parts) for _, parts in _modules()}
    assert units <= set(LAYER_OF), f"give these a layer: {sorted(units - set(LAYER_OF))}"


def test_layers_only_point_down():
    upward = []
    for path, parts in _modules():
        mine = LAYER_OF[_unit(parts)]
        for line, name in _imports(path):
            target = name.split(".")[1] if "." in name else "__init__"
            if target not in LAYER_OF:
                target = "__init__"            # gpo_vae.<function re-exported at the top>
            if LAYER_OF[target] > mine:
                upward.append(f"{'/'.join(parts)}:{line} imports {name}")
    assert not upward, "imports that point up a layer:\n" + "\n".join(upward)


MAX_FUNCTION_LINES = 60     # code lines: the docstring does not count
MAX_MODULE_LINES = 400
#: Still too long, to be split (docs/developer.md): the list only shrinks. A piece that
#: grows past the limit fails; one that is split must leave the list.
TOO_LONG_FUNCTIONS: set[str] = set()
TOO_LONG_MODULES: set[str] = set()


def _code_lines(node: ast.AST) -> int:
    lines = node.end_lineno - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
            and isinstance(first.value.value, str):
        lines -= first.end_lineno - first.lineno + 1
    return lines


def test_no_function_over_60_lines():
    long = set()
    for path, parts in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) \
                    and _code_lines(node) > MAX_FUNCTION_LINES:
                long.add(f"{'/'.join(parts)}:{node.name}")
    assert long <= TOO_LONG_FUNCTIONS, f"split these: {sorted(long - TOO_LONG_FUNCTIONS)}"
    assert TOO_LONG_FUNCTIONS <= long, \
        f"short now, take them off the list: {sorted(TOO_LONG_FUNCTIONS - long)}"


def test_no_module_over_400_lines():
    long = {"/".join(parts) for path, parts in _modules()
            if len(path.read_text().splitlines()) > MAX_MODULE_LINES}
    assert long <= TOO_LONG_MODULES, f"split these: {sorted(long - TOO_LONG_MODULES)}"
    assert TOO_LONG_MODULES <= long, \
        f"short now, take them off the list: {sorted(TOO_LONG_MODULES - long)}"


def test_prepared_data_keys_come_from_constants():
    """One home for the prepared AnnData's keys: ``adata.obs[OBS_SPLIT]``, never
    ``adata.obs["split"]`` (docstrings may show the literal to users)."""
    from gpo_vae import constants

    keys = {value for name, value in vars(constants).items()
            if name.startswith(("OBS_", "OBSM_", "VAR_", "UNS_")) and isinstance(value, str)}
    literal = []
    for path, parts in _modules():
        if parts == ("constants.py",):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) \
                    and node.value.attr in ("obs", "obsm", "var", "uns") \
                    and isinstance(node.slice, ast.Constant) and node.slice.value in keys:
                literal.append(f"{'/'.join(parts)}:{node.lineno} .{node.value.attr}"
                               f"[{node.slice.value!r}]")
    assert not literal, "use the constants of gpo_vae/constants.py:\n" + "\n".join(literal)
