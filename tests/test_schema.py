"""How the store's schema grows: stores written by every earlier version of benign open,
resume and read like a fresh one; columns only grow, each declared with the version that added
it; a new setting with a default changes no run id."""

import dataclasses
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from helpers import benign
from pydantic import Field, create_model

from benign.config import RunConfig
from benign.records import HISTORY_SINCE, OLDEST, RECORD_COLUMNS, NetworkRecord, since
from benign.sweep.config import SETTINGS, parse_sweep, run_id
from benign.sweep.store import READS, SCHEMA_VERSION, load

# stores written by the benign of each earlier schema version from stores/old.toml (the
# version's last commit: `benign sweep old.toml --store vN.sqlite --workers 1`)
STORES = Path(__file__).parent / "data" / "stores"
SWEEP = STORES / "old.toml"


def _columns(path: Path, table: str = "runs") -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def _version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        (v,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(v)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    """The same sweep into a store of this version."""
    path = tmp_path_factory.mktemp("fresh") / "fresh.sqlite"
    r = benign("sweep", SWEEP, "--store", path, "--workers", 1)
    assert r.returncode == 0, r.stderr
    return path


def test_the_fixtures_are_of_every_earlier_version():
    assert [_version(STORES / f"v{v}.sqlite") for v in READS[:-1]] == list(READS[:-1])
    assert READS[-1] == SCHEMA_VERSION


@pytest.mark.parametrize("version", READS[:-1])
def test_a_store_of_every_earlier_schema_opens_and_resumes(tmp_path, fresh, version):
    """Read as it is (status, load, report), then resumed by the sweep that made it: no run
    is computed again, and the store has this version's columns and run ids (those the sweep
    file gives now, as in a fresh store), its measured values kept."""
    path = tmp_path / "old.sqlite"
    shutil.copy(STORES / f"v{version}.sqlite", path)
    before = load(path).runs
    assert list(before.columns) == list(load(fresh).runs.columns)  # read as if upgraded
    assert benign("status", path).returncode == 0
    assert benign("report", path, "--output", tmp_path / "r.html").returncode == 0
    assert _version(path) == version  # reading wrote nothing
    r = benign("sweep", SWEEP, "--store", path, "--workers", 1)
    assert r.returncode == 0, r.stderr
    assert "sweep old: 0 runs computed" in r.stdout
    assert _version(path) == SCHEMA_VERSION
    assert set(_columns(path)) == set(_columns(fresh))
    after = load(path).runs
    planned = {run.run_id for run in parse_sweep(SWEEP.read_text()).runs}
    assert set(after.run_id) == planned == set(load(fresh).runs.run_id)
    key = ["seed", "p", "resolved_method"]
    kept = ["status", "clean_error", "flips", "certified", "min_margin"]
    old = before.sort_values(key).reset_index(drop=True)[kept]
    new = after.sort_values(key).reset_index(drop=True)[kept]
    assert old.equals(new)


def test_a_store_lacking_a_column_opens_and_resumes(tmp_path, fresh):
    """A setting and a measure dropped: read with the setting's default and the measure
    missing; resumed with nothing computed again; the columns back."""
    path = tmp_path / "lacking.sqlite"
    shutil.copy(fresh, path)
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE runs DROP COLUMN gates")
        conn.execute("ALTER TABLE runs DROP COLUMN excess_found")
        conn.execute("ALTER TABLE history DROP COLUMN pattern_flips")
        kept = [s for s in SETTINGS if s != "gates"]
        conn.execute("UPDATE meta SET value = ? WHERE key = 'settings'", (json.dumps(kept),))
    tables = load(path)
    assert (tables.runs.gates == RunConfig.model_fields["gates"].default).all()
    assert tables.runs.excess_found.isna().all() and tables.history.pattern_flips.isna().all()
    assert benign("status", path).returncode == 0
    r = benign("sweep", SWEEP, "--store", path, "--workers", 1)
    assert r.returncode == 0 and "0 runs computed" in r.stdout, r.stderr
    assert set(_columns(path)) == set(_columns(fresh))
    assert set(_columns(path, "history")) == set(_columns(fresh, "history"))


def test_a_new_setting_with_a_default_leaves_every_run_id_unchanged():
    """Only settings away from their defaults are hashed: a setting added with a default
    (as benign's next version would add one) keeps the ids of the runs that leave it there,
    and gives others ids of their own."""
    extra = {"panel": "Run", "since": SCHEMA_VERSION + 1}
    Newer = create_model("Newer", __base__=RunConfig, knob=(int, Field(0, json_schema_extra=extra)))
    for settings in ({}, {"dist": "interval", "m": 30}, {"method": "gd", "lr": 0.1}):
        for seed in (0, 7):
            assert run_id(Newer(**settings), seed) == run_id(RunConfig(**settings), seed)
            assert run_id(Newer(**settings, knob=1), seed) != run_id(RunConfig(**settings), seed)


def test_every_column_declares_the_version_that_added_it():
    """Settings and record fields name their ``since``, and the stores of the earlier
    versions agree: a column of version v is in the store of v and not in that of v − 1."""
    names = [*SETTINGS, *RECORD_COLUMNS.values()]
    assert all(OLDEST <= since(n) <= SCHEMA_VERSION for n in names)
    for n in names:
        for version in READS[:-1]:
            assert (n in _columns(STORES / f"v{version}.sqlite")) == (since(n) <= version), n
    fields = {f.name for f in dataclasses.fields(NetworkRecord) if "since" in f.metadata}
    assert fields == {f.name for f in dataclasses.fields(NetworkRecord)}
    for table in ("history", "certificate_history"):
        assert set(_columns(STORES / "v4.sqlite", table)) - {"run_id"} <= set(HISTORY_SINCE)
