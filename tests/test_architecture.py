"""The shape of the house: which module may import which (an AST walk over the sources, every
import at any depth counted) and what reading results loads."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "benign"


def _imports(path: Path) -> set[str]:
    """Every module a source file imports, at module level or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def _module(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


IMPORTS = {_module(p): _imports(p) for p in SRC.rglob("*.py")}


def _uses(module: str, target: str) -> bool:
    return any(n == target or n.startswith(target + ".") for n in IMPORTS[module])


def test_only_the_store_speaks_sql():
    assert {m for m in IMPORTS if _uses(m, "sqlite3")} == {"benign.sweep.store"}


@pytest.mark.parametrize("reader", ["benign.plots", "benign.regimes", "benign.report"])
def test_the_read_side_never_trains(reader):
    """Analysis, figures and the report take loaded tables: they import neither the run nor
    the training loop, at any depth of their code (a figure evaluates a kept network with
    benign.nets, and computes none)."""
    assert [t for t in ("benign.run", "benign.training") if _uses(reader, t)] == []


def test_records_import_no_orchestration():
    heavy = ("benign.run", "benign.training", "benign.sweep", "benign.cli", "torch", "scipy")
    assert [t for t in heavy if _uses("benign.records", t)] == []
    assert [t for t in heavy if _uses("benign.config", t)] == []


def test_the_test_sees_an_import():
    """The walk finds imports inside functions too (else the tests above could not fail)."""
    assert _uses("benign.cli.options", "benign.run")  # read_config's check_device
    assert _uses("benign.run", "torch")


@pytest.mark.parametrize(
    "statement",
    [
        "import benign.regimes",
        "import benign.report",
        "import benign.records",
        "import benign; benign.load; benign.analyse",
        "import benign.cli.run",
    ],
)
def test_reading_results_loads_no_training_stack(statement):
    """Measured in a fresh interpreter: neither PyTorch nor the solvers (Clarabel, SciPy)."""
    heavy = "('torch', 'clarabel', 'scipy')"
    code = f"{statement}; import sys; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_import_check_sees_torch():
    code = "import benign.run, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_the_facade_hides_no_module():
    """No public name is a module's name: importing a module gives the module, and the public
    function of that name stays what the facade says."""
    import importlib
    import pkgutil
    import types

    import benign

    modules = {m.name for m in pkgutil.iter_modules(benign.__path__)}
    assert set(benign.__all__) & modules == set()
    training = importlib.import_module("benign.training")
    assert isinstance(training, types.ModuleType) and benign.train is training.train
    assert isinstance(importlib.import_module("benign.reproductions").CLAIMS, dict)


def test_every_claims_figure_is_drawn():
    """A claim names its figure by a string: one the report draws (plots.FIGURES), or one
    drawn from its own evidence (CLAIM_FIGURES, VERDICT_FIGURES)."""
    from benign.plots import CLAIM_FIGURES, FIGURES, VERDICT_FIGURES
    from benign.reproductions import CLAIMS

    report = {f.name for f in FIGURES}
    assert len(report) == len(FIGURES)  # one name per figure
    own = {*CLAIM_FIGURES, *VERDICT_FIGURES}
    assert [c.name for c in CLAIMS.values() if c.figure not in report and c.name not in own] == []
