"""The import rules of ARCHITECTURE.md, checked from the source.

Every ``.py`` file under ``beamlike/`` and ``elixirchain/`` is parsed (never imported, except
in the last test, which imports the packages in a fresh interpreter) and its imports are
checked against these rules:

- ``beamlike`` never imports ``elixirchain``;
- ``elixirchain`` uses beamlike's public API only, never ``beamlike._anything``;
- library code never calls ``gevent.monkey.patch_all``; only entry points do;
- only ``beamlike/_core/`` imports ``gevent`` or ``greenlet`` (see ``GEVENT_IMPORTERS``);
- only ``beamlike/dist/`` imports ``zmq`` or ``msgpack``;
- a vendor SDK is imported in exactly one adapter module;
- each beamlike module imports only modules of its own layer or below (see ``LAYERS``);
- importing the packages does no work: no patching, no threads, no greenlets, no sockets.

The rules iterate over the files that exist, so a layer that is not written yet passes
trivially; a new beamlike module that is not in ``LAYERS`` fails until it is added there.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY_PACKAGES = ("beamlike", "elixirchain")

# Entry points inside the packages (run with ``python -m``): they patch before anything
# runs, so they may import gevent.monkey and call patch_all.
ENTRY_POINTS: tuple[str, ...] = ("elixirchain/shell/__main__.py",)

# Files allowed to import gevent or greenlet directly, as globs over paths relative to the
# repository root (``*`` also matches ``/``). To allow another module, add its path here
# with a comment saying why; prefer adding a seam in beamlike/_core instead, so that the
# rest of the runtime stays independent of gevent.
GEVENT_IMPORTERS: tuple[str, ...] = ("beamlike/_core/*", *ENTRY_POINTS)

# Files allowed to import zmq or msgpack (the distribution layer).
WIRE_IMPORTERS: tuple[str, ...] = ("beamlike/dist/*",)

# Vendor SDKs: each may be imported by at most one module (its adapter).
VENDOR_SDKS: tuple[str, ...] = ("google.genai",)

TOP = 99  # beamlike/__init__.py: the public facade, may import every layer.

# Layer of every beamlike module, as globs over repository-relative paths. A module may
# import modules of its own layer or below. A new module must be added here.
LAYERS: dict[str, int] = {
    # L0: kernel, the only gevent/greenlet user
    "beamlike/errors.py": 0,
    "beamlike/messages.py": 0,
    "beamlike/_core/*": 0,
    # L1: process API
    "beamlike/process.py": 1,
    "beamlike/timer.py": 1,
    "beamlike/registry.py": 1,
    "beamlike/ets.py": 1,
    "beamlike/offload.py": 1,
    # L2: synchronous start, crash reports
    "beamlike/proc_lib.py": 2,
    # L3: generic server
    "beamlike/gen_server.py": 3,
    # L4: behaviours built on gen_server
    "beamlike/_supervising.py": 4,
    "beamlike/supervisor.py": 4,
    "beamlike/dynamic_supervisor.py": 4,
    "beamlike/task.py": 4,
    "beamlike/code.py": 4,
    "beamlike/sys.py": 4,
    # L5: distribution over ZeroMQ
    "beamlike/dist/*": 5,
    # the public facades: the package, and the node API (local and distributed)
    "beamlike/__init__.py": TOP,
    "beamlike/node.py": TOP,
}


# --- the scanner -------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    """One imported module, resolved to an absolute dotted name.

    ``from package import name`` is recorded as ``package.name`` when that is a module of
    this repository, else as ``package`` with ``name`` set.
    """

    module: str
    name: str | None
    lineno: int
    type_checking: bool  # inside ``if TYPE_CHECKING:``


@dataclass(frozen=True)
class SourceFile:
    path: Path
    rel: str  # posix path relative to the repository root
    module: str  # dotted module name
    tree: ast.Module

    def where(self, lineno: int) -> str:
        return f"{self.rel}:{lineno}"


def module_name(rel: str) -> str:
    parts = rel.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_repo_module(dotted: str, root: Path = ROOT) -> bool:
    path = root.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or path.is_dir()


def module_paths(dotted: str, root: Path = ROOT) -> list[str]:
    """Candidate repository-relative paths of a module, existing ones first."""
    base = "/".join(dotted.split("."))
    candidates = [f"{base}.py", f"{base}/__init__.py"]
    return sorted(candidates, key=lambda rel: not (root / rel).exists())


def is_type_checking_test(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class ImportCollector(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool, root: Path) -> None:
        self.package = module if is_package else module.rpartition(".")[0]
        self.root = root
        self.imports: list[Import] = []
        self.calls: list[ast.Call] = []
        self._type_checking = 0

    def visit_If(self, node: ast.If) -> None:
        if is_type_checking_test(node.test):
            self._type_checking += 1
            for stmt in node.body:
                self.visit(stmt)
            self._type_checking -= 1
            for stmt in node.orelse:
                self.visit(stmt)
        else:
            self.generic_visit(node)

    def _add(self, module: str, name: str | None, lineno: int) -> None:
        self.imports.append(Import(module, name, lineno, self._type_checking > 0))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, None, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            parts = self.package.split(".") if self.package else []
            if node.level - 1 > len(parts):
                base = ""
            else:
                base = ".".join(parts[: len(parts) - (node.level - 1)])
            target = ".".join(p for p in (base, node.module) if p)
        else:
            target = node.module or ""
        for alias in node.names:
            sub = f"{target}.{alias.name}"
            if alias.name != "*" and is_repo_module(sub, self.root):
                self._add(sub, None, node.lineno)
            else:
                self._add(target, alias.name, node.lineno)

    def visit_Call(self, node: ast.Call) -> None:
        self.calls.append(node)
        # importlib.import_module("x.y") and __import__("x.y") with a literal name
        func = node.func
        is_import_call = (isinstance(func, ast.Name) and func.id == "__import__") or (
            isinstance(func, ast.Attribute) and func.attr == "import_module"
        )
        if (
            is_import_call
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and not node.args[0].value.startswith(".")
        ):
            self._add(node.args[0].value, None, node.lineno)
        self.generic_visit(node)


def parse(path: Path, root: Path = ROOT) -> SourceFile:
    rel = path.relative_to(root).as_posix()
    return SourceFile(path, rel, module_name(rel), ast.parse(path.read_bytes(), filename=rel))


def scan(source: SourceFile, root: Path = ROOT) -> ImportCollector:
    collector = ImportCollector(source.module, source.path.name == "__init__.py", root)
    collector.visit(source.tree)
    return collector


def library_files(package: str, root: Path = ROOT) -> list[Path]:
    return sorted(p for p in (root / package).rglob("*.py") if "__pycache__" not in p.parts)


@functools.cache
def all_library_sources() -> tuple[tuple[SourceFile, ImportCollector], ...]:
    """Every library file, parsed and scanned once for all the rules below."""
    sources = [parse(path) for package in LIBRARY_PACKAGES for path in library_files(package)]
    return tuple((source, scan(source)) for source in sources)


def top(module: str) -> str:
    return module.partition(".")[0]


def matches(rel: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch(rel, pattern) for pattern in patterns)


def layer_of(rel: str) -> int | None:
    if rel in LAYERS:
        return LAYERS[rel]
    for pattern, layer in LAYERS.items():
        if fnmatch(rel, pattern):
            return layer
    return None


def layer_of_module(dotted: str) -> int | None:
    for rel in module_paths(dotted):
        layer = layer_of(rel)
        if layer is not None:
            return layer
    return None


def is_private(dotted: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in dotted.split("."))


def report(violations: list[str], rule: str) -> str:
    return f"{rule}:\n  " + "\n  ".join(violations)


# --- the scanner works -------------------------------------------------------------------


def test_the_scanner_resolves_absolute_relative_and_from_imports(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "errors.py").write_text("")
    (tmp_path / "pkg" / "sub" / "__init__.py").write_text("")
    code = textwrap.dedent(
        """
        import gevent.monkey
        from . import mod2
        from .. import errors
        from ..errors import Boom
        from pkg import errors as e2
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from pkg.sub import Later
        import importlib
        importlib.import_module("zmq")
        """
    )
    mod = tmp_path / "pkg" / "sub" / "mod.py"
    mod.write_text(code)
    found = {
        (i.module, i.name, i.type_checking) for i in scan(parse(mod, tmp_path), tmp_path).imports
    }
    assert found == {
        ("gevent.monkey", None, False),
        ("pkg.sub", "mod2", False),
        ("pkg.errors", None, False),
        ("pkg.errors", "Boom", False),
        ("typing", "TYPE_CHECKING", False),
        ("pkg.sub", "Later", True),
        ("importlib", None, False),
        ("zmq", None, False),
    }


def test_the_layer_table_places_modules_by_path() -> None:
    assert layer_of_module("beamlike._core.mailbox") == 0
    assert layer_of_module("beamlike.errors") == 0
    assert layer_of_module("beamlike.gen_server") == 3
    assert layer_of_module("beamlike.dist") == 5
    assert layer_of_module("beamlike.dist.router") == 5
    assert layer_of_module("beamlike") == TOP
    assert layer_of_module("beamlike.not_in_the_table") is None


def test_private_module_names_are_recognised() -> None:
    assert is_private("beamlike._core")
    assert is_private("beamlike.dist._wire")
    assert not is_private("beamlike.gen_server")
    assert not is_private("beamlike.__version__")


# --- the rules ---------------------------------------------------------------------------


def test_beamlike_has_python_files() -> None:
    assert library_files("beamlike"), "beamlike/ has no .py files"


def test_beamlike_never_imports_elixirchain() -> None:
    violations = [
        f"{src.where(imp.lineno)} imports {imp.module}"
        for src, found in all_library_sources()
        if top(src.module) == "beamlike"
        for imp in found.imports
        if top(imp.module) == "elixirchain"
    ]
    assert not violations, report(violations, "beamlike must not import elixirchain")


def test_elixirchain_uses_only_the_public_api_of_beamlike() -> None:
    violations = []
    for src, found in all_library_sources():
        if top(src.module) != "elixirchain":
            continue
        for imp in found.imports:
            if top(imp.module) != "beamlike":
                continue
            full = f"{imp.module}.{imp.name}" if imp.name and imp.name != "*" else imp.module
            if is_private(full):
                violations.append(f"{src.where(imp.lineno)} imports {full}")
    assert not violations, report(
        violations, "elixirchain may use public beamlike modules only, never beamlike._private"
    )


def test_library_code_never_calls_gevent_monkey_patch_all() -> None:
    violations = []
    for src, found in all_library_sources():
        if matches(src.rel, ENTRY_POINTS):
            continue
        for imp in found.imports:
            if imp.name == "patch_all" or imp.module.endswith(".patch_all"):
                violations.append(f"{src.where(imp.lineno)} imports patch_all")
        for call in found.calls:
            func = call.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name == "patch_all":
                violations.append(f"{src.where(call.lineno)} calls patch_all()")
    assert not violations, report(
        violations, "only entry points (examples, bench, tests, shell) may patch; library code"
    )


def test_only_the_core_imports_gevent_or_greenlet() -> None:
    violations = [
        f"{src.where(imp.lineno)} imports {imp.module}"
        for src, found in all_library_sources()
        if not matches(src.rel, GEVENT_IMPORTERS)
        for imp in found.imports
        if top(imp.module) in {"gevent", "greenlet"}
    ]
    assert not violations, report(
        violations, f"only {', '.join(GEVENT_IMPORTERS)} may import gevent or greenlet"
    )


def test_only_the_distribution_layer_imports_zmq_or_msgpack() -> None:
    violations = [
        f"{src.where(imp.lineno)} imports {imp.module}"
        for src, found in all_library_sources()
        if not matches(src.rel, WIRE_IMPORTERS)
        for imp in found.imports
        if top(imp.module) in {"zmq", "msgpack"}
    ]
    assert not violations, report(
        violations, f"only {', '.join(WIRE_IMPORTERS)} may import zmq or msgpack"
    )


def test_each_vendor_sdk_is_imported_by_at_most_one_module() -> None:
    importers: dict[str, set[str]] = {sdk: set() for sdk in VENDOR_SDKS}
    for src, found in all_library_sources():
        for imp in found.imports:
            full = f"{imp.module}.{imp.name}" if imp.name else imp.module
            for sdk in VENDOR_SDKS:
                if full == sdk or full.startswith(sdk + "."):
                    importers[sdk].add(src.rel)
    too_many = {sdk: sorted(files) for sdk, files in importers.items() if len(files) > 1}
    assert not too_many, f"a vendor SDK must be imported in one adapter module only: {too_many}"


def test_every_beamlike_module_has_a_layer() -> None:
    missing = [
        src.rel
        for src, _ in all_library_sources()
        if top(src.module) == "beamlike" and layer_of(src.rel) is None
    ]
    assert not missing, report(
        missing, "add these beamlike modules to LAYERS in tests/test_architecture.py"
    )


def test_beamlike_modules_import_only_their_own_layer_or_below() -> None:
    # Imports under ``if TYPE_CHECKING:`` never run, so they may point upward (for
    # annotations); every other import must point to the same layer or below.
    violations = []
    for src, found in all_library_sources():
        if top(src.module) != "beamlike":
            continue
        own = layer_of(src.rel)
        if own is None:
            continue  # reported by test_every_beamlike_module_has_a_layer
        for imp in found.imports:
            if top(imp.module) != "beamlike" or imp.type_checking:
                continue
            target = layer_of_module(imp.module)
            if target is None:
                violations.append(
                    f"{src.where(imp.lineno)} imports {imp.module}, which is not in LAYERS "
                    "(add it to the table in tests/test_architecture.py)"
                )
            elif target > own:
                what = (
                    f"from {imp.module} import {imp.name}" if imp.name else f"import {imp.module}"
                )
                level = "the top-level facade" if target == TOP else f"L{target}"
                violations.append(f"{src.where(imp.lineno)} (L{own}): {what} reaches {level}")
    assert not violations, report(
        violations, "beamlike imports must point to the same layer or below"
    )


def test_importing_the_packages_does_no_work() -> None:
    probe = textwrap.dedent(
        """
        import gc, json, os, sys, threading

        def sockets():
            fd_dir = "/proc/self/fd"
            if not os.path.isdir(fd_dir):
                return []
            found = []
            for fd in os.listdir(fd_dir):
                try:
                    if os.readlink(os.path.join(fd_dir, fd)).startswith("socket:"):
                        found.append(fd)
                except OSError:
                    pass
            return found

        import beamlike
        import elixirchain

        import gevent.monkey
        import greenlet
        try:
            from gevent._hub_local import get_hub_if_exists
        except ImportError:  # older or newer gevent: fall back to "unknown"
            get_hub_if_exists = lambda: None

        current = greenlet.getcurrent()
        print(json.dumps({
            "patched": bool(gevent.monkey.is_anything_patched()),
            "threads": threading.active_count(),
            "thread_names": [t.name for t in threading.enumerate()],
            "hub": repr(get_hub_if_exists()) if get_hub_if_exists() is not None else None,
            "greenlets": sum(
                1 for o in gc.get_objects()
                if isinstance(o, greenlet.greenlet) and o is not current
            ),
            "sockets": sockets(),
        }))
        """
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"importing beamlike and elixirchain failed:\n{result.stderr}"
    state = json.loads(result.stdout.strip().splitlines()[-1])
    assert state["patched"] is False, "importing the packages monkey-patched the stdlib"
    assert state["threads"] == 1, f"importing the packages started threads: {state['thread_names']}"
    assert state["hub"] is None, f"importing the packages created a gevent hub: {state['hub']}"
    assert state["greenlets"] == 0, "importing the packages created greenlets"
    assert state["sockets"] == [], "importing the packages opened sockets"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
