"""The layers depend downwards only, and torch stays in the adapter.

Every module of the package is parsed with :mod:`ast`; every import counts, whether at
the top, inside a function (a lazy import), under ``TYPE_CHECKING``, or a literal
``importlib.import_module("...")``. A module may import its own layer and the layers
below it, never one above. The layers, lowest first:

=========  ===================================================================
core       ``conveyor.core``, ``conveyor.errors`` and the private top-level helpers
           (``conveyor._lazy``, ``conveyor._optional``), which import nothing above
io         ``conveyor.io``: producers, files, readers, TFRecord, Example
ops        ``conveyor.ops`` (and ``conveyor.image``): decoding, parsing, image codecs
pipeline   ``conveyor.pipeline``
adapters   ``conveyor.torch`` and ``conveyor.datasets``
compat     ``conveyor.compat``
apps       ``conveyor.apps``
facade     ``conveyor`` itself and ``conveyor.__main__``: may import anything, lazily
=========  ===================================================================

``torch`` may be imported only by ``conveyor.torch`` and under ``conveyor.apps``, and
``conveyor.datasets`` must not reach it through ``conveyor.torch`` either.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import conveyor

SRC = Path(conveyor.__file__).resolve().parent.parent

LAYERS = ["core", "io", "ops", "pipeline", "adapters", "compat", "apps", "facade"]
# A module's layer is that of the longest of these that is it or a package above it.
PLACES = {
    "conveyor": "facade",
    "conveyor.__main__": "facade",
    "conveyor.core": "core",
    "conveyor.errors": "core",
    "conveyor._lazy": "core",
    "conveyor._optional": "core",
    "conveyor.io": "io",
    "conveyor.ops": "ops",
    "conveyor.image": "ops",
    "conveyor.pipeline": "pipeline",
    "conveyor.torch": "adapters",
    "conveyor.datasets": "adapters",
    "conveyor.compat": "compat",
    "conveyor.apps": "apps",
}
TORCH_ALLOWED = ("conveyor.torch", "conveyor.apps")


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def layer_of(module: str) -> str | None:
    """The layer of a ``conveyor`` module (``None``: it belongs to none)."""
    if module == "conveyor":
        return "facade"
    places = [p for p in PLACES if p != "conveyor" and _within(module, p)]
    return PLACES[max(places, key=len)] if places else None


def _modules(root: Path) -> dict[str, Path]:
    """Every module of the ``conveyor`` package under *root*, by dotted name."""
    found = {}
    for path in sorted((root / "conveyor").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(tree: ast.AST, module: str, is_package: bool, known: set[str]):
    """``(line, imported module)`` for every import in *tree*, relative ones resolved.
    ``from package import name`` counts as importing ``package.name`` when that is one
    of our modules (in *known*) or *package* is not ours, else as importing *package*."""
    here = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = here.split(".")
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([node.module] if node.module else []))
            for alias in node.names:
                child = f"{base}.{alias.name}"
                inside = _within(base, "conveyor")
                yield node.lineno, child if child in known or not inside else base
        elif isinstance(node, ast.Call) and node.args:
            function = ast.unparse(node.func)
            first = node.args[0]
            if function in ("importlib.import_module", "import_module", "__import__") and (
                isinstance(first, ast.Constant) and isinstance(first.value, str)
            ):
                yield node.lineno, first.value


def violations(root: Path) -> list[str]:
    """Every import under *root*/conveyor that breaks the layering, as
    ``"<file>:<line>: <module> (<layer>) imports <module> (<layer>): <why>"``."""
    modules = _modules(root)
    known = set(modules)
    found = []
    for module, path in modules.items():
        where = f"{path.relative_to(root).as_posix()}"
        layer = layer_of(module)
        if layer is None:
            found.append(f"{where}:1: {module} belongs to no layer: add it to PLACES")
            continue
        tree = ast.parse(path.read_text(), str(path))
        imports = _imports(tree, module, path.name == "__init__.py", known)
        for line, target in sorted(imports):
            if _within(target, "torch") and not any(_within(module, a) for a in TORCH_ALLOWED):
                found.append(
                    f"{where}:{line}: {module} ({layer}) imports {target}: torch may be "
                    "imported only by conveyor.torch and under conveyor.apps"
                )
            if not _within(target, "conveyor"):
                continue
            if _within(module, "conveyor.datasets") and _within(target, "conveyor.torch"):
                found.append(
                    f"{where}:{line}: {module} ({layer}) imports {target} (adapters): "
                    "the datasets must not depend on torch"
                )
                continue
            target_layer = layer_of(target)
            if target_layer is None:
                found.append(
                    f"{where}:{line}: {module} ({layer}) imports {target}, which belongs to "
                    "no layer"
                )
            elif LAYERS.index(target_layer) > LAYERS.index(layer):
                found.append(
                    f"{where}:{line}: {module} ({layer}) imports {target} ({target_layer}), "
                    "a higher layer"
                )
    return found


def private_imports(root: Path) -> list[str]:
    """Every import of another package's private module (``_posixshmem``,
    ``multiprocessing._x``) under *root*/conveyor, as ``"<file>:<line>: <module>"``."""
    modules = _modules(root)
    found = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        for line, target in sorted(
            _imports(tree, module, path.name == "__init__.py", set(modules))
        ):
            private = any(p.startswith("_") and not p.startswith("__") for p in target.split("."))
            if private and not _within(target, "conveyor"):
                found.append(f"{path.relative_to(root).as_posix()}:{line}: {target}")
    return found


def test_no_module_imports_a_higher_layer_or_torch():
    assert violations(SRC) == []


def test_no_module_imports_a_private_module_of_python_or_another_package(tmp_path):
    assert private_imports(SRC) == []
    (tmp_path / "conveyor").mkdir()
    (tmp_path / "conveyor" / "shm.py").write_text(
        "import os\ntry:\n    import _posixshmem\nexcept ImportError:\n    pass\n"
        "from conveyor import _lazy\nfrom multiprocessing import _private\n"
    )
    assert private_imports(tmp_path) == [
        "conveyor/shm.py:3: _posixshmem",
        "conveyor/shm.py:7: multiprocessing._private",
    ]


def test_the_checker_names_the_module_the_line_and_the_forbidden_import(tmp_path):
    def plant(name: str, source: str) -> None:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))

    plant("conveyor/__init__.py", "from conveyor import core, errors\nimport torch\n")
    plant("conveyor/errors.py", "from conveyor.core.errors import *\n")
    plant("conveyor/core/__init__.py", "from conveyor.core.queues import FIFOQueue\n")
    plant(
        "conveyor/core/queues.py",
        """
        import numpy as np

        def batches():
            from conveyor.pipeline import Pipeline  # a lazy import counts

            return Pipeline
        """,
    )
    plant("conveyor/io/__init__.py", "")
    plant("conveyor/io/readers.py", "from ..ops import decode\nfrom . import files\n")
    plant("conveyor/io/files.py", "import importlib\nimportlib.import_module('conveyor.torch')\n")
    plant("conveyor/ops/__init__.py", "")
    plant("conveyor/ops/decode.py", "from conveyor.io import readers\nimport torch.nn\n")
    plant("conveyor/pipeline/__init__.py", "import conveyor\n")
    plant("conveyor/torch.py", "import torch\nfrom conveyor.pipeline import Pipeline\n")
    plant("conveyor/datasets/cifar.py", "from conveyor.torch import loader\n")
    plant("conveyor/apps/train.py", "import torch\nfrom conveyor.datasets import cifar\n")
    plant("conveyor/stray.py", "")

    assert violations(tmp_path) == [
        "conveyor/__init__.py:2: conveyor (facade) imports torch: torch may be imported "
        "only by conveyor.torch and under conveyor.apps",
        "conveyor/core/queues.py:5: conveyor.core.queues (core) imports conveyor.pipeline "
        "(pipeline), a higher layer",
        "conveyor/datasets/cifar.py:1: conveyor.datasets.cifar (adapters) imports "
        "conveyor.torch (adapters): the datasets must not depend on torch",
        "conveyor/io/files.py:2: conveyor.io.files (io) imports conveyor.torch (adapters), "
        "a higher layer",
        "conveyor/io/readers.py:1: conveyor.io.readers (io) imports conveyor.ops.decode "
        "(ops), a higher layer",
        "conveyor/ops/decode.py:2: conveyor.ops.decode (ops) imports torch.nn: torch may be "
        "imported only by conveyor.torch and under conveyor.apps",
        "conveyor/pipeline/__init__.py:1: conveyor.pipeline (pipeline) imports conveyor "
        "(facade), a higher layer",
        "conveyor/stray.py:1: conveyor.stray belongs to no layer: add it to PLACES",
    ]


@pytest.mark.timeout(60)
def test_importing_the_facade_loads_no_upper_layer_and_no_torch():
    code = (
        "import sys, conveyor, conveyor.__main__\n"
        "loaded = sorted(m for m in sys.modules if m == 'conveyor' or m.startswith('conveyor.'))\n"
        "print([m for m in loaded if m not in ('conveyor', 'conveyor.__main__', 'conveyor.io',"
        " 'conveyor.ops') and not m.startswith('conveyor.core.') and m not in"
        " ('conveyor.core', 'conveyor.errors', 'conveyor._lazy', 'conveyor._optional')])\n"
        "print(sorted(m for m in ('torch', 'google', 'fsspec', 'PIL', 'simplejpeg', 'aiohttp')"
        " if m in sys.modules))\n"
    )
    path = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "[]"]
