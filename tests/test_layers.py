"""Architecture: the import layers, the one algorithm registry, a silent and cheap import.

Layers, bottom to top: ``errors``; ``events``, ``algorithms``, ``limits``, ``_atomic``,
``_rawdicom``, ``_window``, ``report``; ``keys``, ``_pkcs11``; ``trust``; ``cms``; ``signatures``,
``securefile``, ``transport``; ``batch``, ``policy``, ``audit``; ``cli``. A module may import its
own layer and the ones below, never one above, and nothing outside ``cli/`` imports
``dicomsec.cli`` (``__main__`` is the
``python -m dicomsec`` entry point and the one exception). Imports inside functions and under
``TYPE_CHECKING`` count too.

There is no import cycle anywhere in ``src/``, between packages or inside one, a package and its
own modules included (an import under ``if TYPE_CHECKING:`` is not run and does not count;
``importlib.import_module`` calls count, a computed name for every module it could name). No
function is longer than 80 lines.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from dicomsec import algorithms

SRC = Path(__file__).resolve().parent.parent / "src" / "dicomsec"

#: rank of each top-level part of the package (lower may not import higher)
LAYERS: dict[str, int] = {
    "errors": 0,
    "events": 1,
    "algorithms": 1,
    "_atomic": 1,
    "_lazy": 1,
    "_rawdicom": 1,
    "_window": 1,
    "report": 1,
    "limits": 1,
    "keys": 2,
    "_pkcs11": 2,
    "_x509sign": 2,
    "trust": 3,
    "cms": 4,
    "signatures": 5,
    "securefile": 5,
    "deid": 5,
    "transport": 5,
    "batch": 6,
    "policy": 6,
    "audit": 6,
    "cli": 7,
}
#: the modules below ``signatures`` (the brief's "lower layers")
LOWER = ("algorithms", "errors", "events", "keys", "limits", "_atomic", "_rawdicom", "_window",
         "report", "trust")
#: modules that may import the command line tool besides cli/ itself
CLI_ENTRY_POINTS = {"dicomsec.__main__"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> list[Path]:
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 10
    return files


def _is_module(name: str) -> bool:
    """A dicomsec module or package of that dotted name exists in ``src/``."""
    if not name.startswith("dicomsec."):
        return False
    base = SRC.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside ``if TYPE_CHECKING:`` blocks."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                inside.update(id(sub) for sub in ast.walk(stmt))
    return inside


def _imports(path: Path, *, runtime_only: bool = False) -> set[str]:
    """Every dicomsec module named by an import statement anywhere in the file (``runtime_only``:
    leave out the imports under ``if TYPE_CHECKING:``)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    skip = _type_checking_nodes(tree) if runtime_only else set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            # ``from P import m`` of a submodule m imports P.m (and P, which is imported
            # anyway as m's parent); importing any other name from P depends on P itself
            submodules = {f"{target}.{a.name}" for a in node.names
                          if _is_module(f"{target}.{a.name}")}
            found.update(submodules)
            if len(submodules) < len(node.names):
                found.add(target)
    found.update(_dynamic_imports(tree, module, package, skip))
    return {name for name in found if name == "dicomsec" or name.startswith("dicomsec.")}


def _dynamic_imports(tree: ast.AST, module: str, package: str, skip: set[int]) -> set[str]:
    """``importlib.import_module(...)`` targets: a literal name as it is; an f-string by its
    constant prefix (``f"{__name__}.{x}"`` counts as ``<module>.``), standing for every module
    under it; anything else for every module of the caller's own package."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip or not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name != "import_module":
            continue
        arg = node.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            found.add(arg.value)
            continue
        prefix = package + "."
        if isinstance(arg, ast.JoinedStr):
            prefix = ""
            for part in arg.values:
                if isinstance(part, ast.Constant):
                    prefix += str(part.value)
                elif (isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Name)
                      and part.value.id == "__name__"):
                    prefix += module
                else:
                    break
        found.add(f"{prefix}*")
    return found


def _part(module: str) -> str | None:
    """The top-level part of the package a module belongs to (``None`` for the root)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


IMPORTS = {_module_name(p): _imports(p) for p in _sources()}
RUNTIME_IMPORTS = {_module_name(p): _imports(p, runtime_only=True) for p in _sources()}


def test_import_graph_was_found() -> None:
    assert "dicomsec.signatures._sign" in IMPORTS
    assert "dicomsec.algorithms" in IMPORTS["dicomsec.signatures._sign"]
    assert "dicomsec.errors" in IMPORTS["dicomsec._rawdicom"]
    # relative imports would be resolved too
    assert all(not name.startswith("dicomsec..") for deps in IMPORTS.values() for name in deps)


def test_every_module_is_in_a_known_layer() -> None:
    for module in IMPORTS:
        part = _part(module)
        assert part is None or part in LAYERS or part == "__main__", (
            f"{module} is in no layer; add it to LAYERS in tests/test_layers.py"
        )


def test_nothing_imports_cli() -> None:
    offenders = [
        f"{module} imports {dep}"
        for module, deps in IMPORTS.items()
        if _part(module) != "cli" and module not in CLI_ENTRY_POINTS
        for dep in deps
        if dep == "dicomsec.cli" or dep.startswith("dicomsec.cli.")
    ]
    assert offenders == []


def test_lower_layers_import_neither_signatures_nor_cli() -> None:
    offenders = [
        f"{module} imports {dep}"
        for module, deps in IMPORTS.items()
        if _part(module) in LOWER
        for dep in deps
        if _part(dep) in ("signatures", "cli")
    ]
    assert offenders == []


def test_no_layer_imports_one_above_it() -> None:
    offenders = []
    for module, deps in IMPORTS.items():
        part = _part(module)
        if part not in LAYERS:
            continue
        for dep in deps:
            dep_part = _part(dep)
            if dep_part in LAYERS and LAYERS[dep_part] > LAYERS[part]:
                offenders.append(f"{module} (layer {part}) imports {dep} (layer {dep_part})")
    assert offenders == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), plus self-loops."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _import_graph() -> dict[str, set[str]]:
    """Every runtime import between dicomsec modules, a dynamic one (``name*``) standing for
    every module its prefix names."""
    graph: dict[str, set[str]] = {}
    for module, deps in RUNTIME_IMPORTS.items():
        targets = {d for d in deps if d in RUNTIME_IMPORTS}
        for wild in (d[:-1] for d in deps if d.endswith("*")):
            targets.update(m for m in RUNTIME_IMPORTS if m.startswith(wild))
        graph[module] = targets - {module}
    return graph


def test_dynamic_imports_are_seen() -> None:
    graph = _import_graph()
    assert "dicomsec.cli.commands.verify" in graph["dicomsec.cli"]
    assert "dicomsec.signatures._verify" in graph["dicomsec.signatures"]
    # ``from P import name``: an edge to P itself unless every name is a submodule of P
    assert _is_module("dicomsec.signatures") and _is_module("dicomsec.signatures._sign")
    assert not _is_module("dicomsec.signatures.sign")  # a function of the package


def test_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"a"}}) == [["a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle() -> None:
    assert _cycles(_import_graph()) == []


def _long_functions(limit: int) -> list[str]:
    offenders = []
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > limit:
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name}: "
                                     f"{length} lines")
    return offenders


def test_no_function_over_80_lines() -> None:
    assert _long_functions(80) == []


def test_package_root_imports_no_submodule() -> None:
    assert IMPORTS["dicomsec"] <= {"dicomsec"}


# ------------------------------------------------------------------------------------------
# the one algorithm registry


def _registry_oids() -> set[str]:
    return {oid for a in algorithms.all_algorithms() for oid in (a.oid, *a.alt_oids)}


def _oid_content_hex(oid: str) -> str:
    """The DER content octets of an OID, as lowercase hex (to catch hard-coded DER)."""
    arcs = [int(x) for x in oid.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return out.hex()


def test_oid_encoding_helper() -> None:
    assert _oid_content_hex("2.16.840.1.101.3.4.2.1") == "608648016503040201"
    assert _oid_content_hex("1.3.36.3.2.1") == "2b24030201"


def _others() -> list[Path]:
    """Every module but the registry (``algorithms.py``, or the ``algorithms/`` package)."""
    registry = SRC / "algorithms"
    return [p for p in _sources()
            if p != SRC / "algorithms.py" and registry not in p.parents]


def test_registry_has_the_names_the_grep_looks_for() -> None:
    oids = _registry_oids()
    assert {"2.16.840.1.101.3.4.2.1", "2.16.840.1.101.3.4.2.2", "2.16.840.1.101.3.4.2.3",
            "1.3.14.3.2.26", "1.3.36.3.2.1", "1.2.840.113549.2.5"} <= oids
    terms = {a.dicom_term for a in algorithms.all_algorithms() if a.dicom_term}
    assert terms == {"SHA256", "SHA384", "SHA512", "SHA1", "RIPEMD160", "MD5"}


def test_algorithm_oids_only_in_algorithms_module() -> None:
    patterns = {
        oid: re.compile(r"(?<![\d.])" + re.escape(oid) + r"(?!\d|\.\d)") for oid in _registry_oids()
    }
    offenders = [
        f"{path.relative_to(SRC)}:{n}: {oid}"
        for path in _others()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for oid, pattern in patterns.items()
        if pattern.search(line)
    ]
    assert offenders == []


def test_mac_terms_only_in_algorithms_module() -> None:
    terms = sorted({a.dicom_term for a in algorithms.all_algorithms() if a.dicom_term})
    pattern = re.compile(r"""(["'])(""" + "|".join(map(re.escape, terms)) + r")\1")
    offenders = [
        f"{path.relative_to(SRC)}:{n}: {line.strip()}"
        for path in _others()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


def test_der_encoded_oids_only_in_algorithms_module() -> None:
    # e.g. a hard-coded DigestInfo prefix (RFC 8017 9.2) belongs in the registry too
    encoded = {_oid_content_hex(oid): oid for oid in _registry_oids()}
    offenders = [
        f"{path.relative_to(SRC)}:{n}: {oid}"
        for path in _others()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for hexed, oid in encoded.items()
        if hexed in line.lower()
    ]
    assert offenders == []


# ------------------------------------------------------------------------------------------
# importing


def _python(code: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *flags, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False, cwd=SRC.parent.parent)


def test_import_is_silent_with_warnings_as_errors() -> None:
    proc = _python("import dicomsec", "-W", "error")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr == ""


def test_every_module_imports_with_warnings_as_errors() -> None:
    modules = sorted(m for m in IMPORTS if not m.endswith("__main__"))
    proc = _python(f"import importlib\nfor m in {modules!r}: importlib.import_module(m)",
                   "-W", "error")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""


_HEAVY = "sorted(m for m in sys.modules if m.startswith(('cryptography', 'pydicom')))"


def test_import_dicomsec_imports_neither_cryptography_nor_pydicom() -> None:
    proc = _python(f"import sys, dicomsec; print({_HEAVY})")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_import_signatures_runs() -> None:
    # informational: what the library layer pulls in eagerly (no assertion on the list)
    proc = _python(f"import sys, dicomsec, dicomsec.signatures; print({_HEAVY})")
    assert proc.returncode == 0, proc.stderr
    print("eager imports of dicomsec.signatures:", proc.stdout.strip())
