"""The docs name what the code has: every failure name, record column and history key is
documented, the block sizes are the code's, and every flag a documented command line uses
exists on its command."""

import re
from pathlib import Path

import pytest

from benign.config import BLOCK_ELEMENTS, FUSED_BLOCK_ELEMENTS
from benign.records import (
    CERT_KEYS,
    CONVEX_FAILURES,
    HISTORY_KEYS,
    LP_FAILURES,
    RANGE_FAILURES,
    RECORD_COLUMNS,
)

ROOT = Path(__file__).parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SWEEPS = (ROOT / "docs" / "sweeps.md").read_text()


def _ticked(text: str) -> set[str]:
    return set(re.findall(r"`([^`]+)`", text))


def test_every_failure_name_is_documented():
    failures = SWEEPS[SWEEPS.index("A run is **failed**") :].split("\n\n")[0]
    names = {*LP_FAILURES, *CONVEX_FAILURES, *RANGE_FAILURES, "nan", "no_interpolation"}
    assert names - _ticked(failures) == set()


def test_every_record_column_and_history_key_is_documented():
    columns = SWEEPS[SWEEPS.index("`runs` columns:") : SWEEPS.index("NaN is stored as NULL")]
    assert set(RECORD_COLUMNS.values()) - _ticked(columns) == set()
    tables = _ticked(SWEEPS[SWEEPS.index("| table | rows |") : SWEEPS.index("`runs` columns:")])
    assert {*HISTORY_KEYS, *CERT_KEYS} - tables == set()
    npz = (ROOT / "docs" / "npz-format.md").read_text()
    records = next(line for line in npz.splitlines() if line.startswith("| `records`"))
    assert {*HISTORY_KEYS, *CERT_KEYS} - _ticked(records) == set()


def test_the_versions_column_names_every_package_recorded():
    from benign.sweep.execute import VERSIONS

    packages = [part.split()[0] for part in VERSIONS.split("; ")]
    line = next(x for x in SWEEPS.splitlines() if x.startswith("- `versions`"))
    assert [p for p in packages if p not in line] == []


SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")


def test_the_block_sizes_are_the_codes():
    blocks = SWEEPS[SWEEPS.index("## Blocks") : SWEEPS.index("## Reproducibility")]
    powers = {2 ** int(e.translate(SUPERSCRIPT)) for e in re.findall(r"2([⁰¹²³⁴⁵⁶⁷⁸⁹]+)", blocks)}
    assert powers == {BLOCK_ELEMENTS, FUSED_BLOCK_ELEMENTS}


def _command_lines() -> list[tuple[str, str, list[str]]]:
    """(document, command, flags) of every `benign COMMAND …` line in a code block."""
    found = []
    for doc in DOCS:
        fenced = False
        for line in doc.read_text().splitlines():
            if line.startswith("```"):
                fenced = not fenced
                continue
            m = re.search(r"(?:^|\s|/)benign ([a-z-]+)(.*)", line.split("#")[0])
            if fenced and m:
                found.append((doc.name, m[1], re.findall(r"(--[a-z][a-z-]*)", m[2])))
    return found


def test_documented_command_lines_are_found():
    lines = _command_lines()
    assert len(lines) > 20 and any(flags for _, _, flags in lines)


@pytest.mark.parametrize(("doc", "command", "flags"), _command_lines())
def test_every_documented_flag_exists(doc, command, flags):
    from benign.cli import COMMANDS, load_command

    assert command in COMMANDS, (doc, command)
    options = {o for p in load_command(command).params for o in (*p.opts, *p.secondary_opts)}
    options.add("--help")  # click's own
    assert [f for f in flags if f not in options] == [], (doc, command)
