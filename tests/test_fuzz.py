"""Hostile input, generated: `benign run` flags and sweep files with wrong types, NaN and
infinities, huge and negative sizes, unicode, deep nesting, duplicate keys and binary garbage.

Every case either is accepted (exit 0) or is refused with exit code 2 and one line naming the
field, never a traceback, never a hang, and nothing is written beside it. The suite runs a few
hundred cases; ``make stress`` sets ``HYPOTHESIS_PROFILE=stress`` (thousands per test).

An accepted `benign run` is computed when it is small; a larger one is stopped where its work
would begin (its settings have passed every check by then)."""

import importlib
import json
import math
import os
import signal
import tempfile
from pathlib import Path

import pytest
from helpers import benign
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from benign.config import RunConfig
from benign.sweep.config import TOP_KEYS

settings.register_profile(
    "default", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "stress", max_examples=6000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

HANG_SECONDS = 60  # a case still running after this is a hang
SETTINGS = list(RunConfig.model_fields)
RUN_OPTIONS = ["seeds", "seed", "block", "threads", "save"]
# a small valid run that every case starts from; the fuzzed flags come after it and win
BASE = ["--dist", "sphere", "--d", "3", "--m", "6", "--width", "4", "--steps", "20"]
BASE += ["--rounds", "5", "--seeds", "1", "--test-half-width", "0.1"]
# the settings of a run computed for real; beyond these it is stopped where its work begins
SMALL = dict(m=64, d=64, width=64, depth=4, steps=200, lp_grid=5000, gates=64, rounds=100)

NUMBERS = [
    "nan", "NaN", "inf", "-inf", "+inf", "1e400", "-1e400", "1e-400", "1e-320", "5e-324",
    "1e308", "-1e308", "1e300", "1e-200", "0", "-0", "-0.0", "1", "-1", "2", "0.5", "0.4999999",
    "0.5000001", "1.5", "3", "7", "1000", "1000000", "1000001", "20000", "20001",
    "18446744073709551616", "9223372036854775808", "9223372036854775807", "-9223372036854775809",
    "100000000000", "1e3", "0x10", "1_000", "١٢",
]  # fmt: skip
WORDS = [
    "", " ", "é", "☃", "true", "false", "none", "None", "null", "cpu", "cuda", "cudaX", "cuda:99",
    "cuda:-1", "gd", "lp", "convex", "gd+convex", "auto", "sphere", "interval", "mnist", "digits",
    "float16", "../../x.npz", "a" * 300, "x/" * 40, "/dev/null", "-", "--m", "—m", "\t",
    "<img src=x onerror=alert(1)>",
]  # fmt: skip
flag_values = st.one_of(
    st.sampled_from(NUMBERS + WORDS),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12),
)
flags = st.one_of(
    st.sampled_from(SETTINGS + RUN_OPTIONS).map(lambda k: "--" + k.replace("_", "-")),
    st.sampled_from(["--bias", "--no-bias", "--center", "--no-center", "--json"]),
    st.sampled_from(["--nope", "--M", "-m", "--init_scale", "--seeds=", "--"]),
)


class _StoppedError(Exception):
    """An accepted run too large to compute here, stopped where its work begins."""


class _HangError(Exception):
    """A case still running after :data:`HANG_SECONDS`."""


def _small_or_stop(config, seeds, block=None, progress=None):
    too_big = {k: getattr(config, k) for k, v in SMALL.items() if getattr(config, k) > v}
    if too_big or len(seeds) > 2 or config.test_half_width < 0.01 or config.dist == "mnist":
        raise _StoppedError(too_big)
    return _real_run(config, seeds, block, progress)


_run_module = importlib.import_module("benign.run")
_real_run = _run_module.run_experiment


def _alarm(signum, frame):
    raise _HangError


def check(argv: list[str], directory: Path, allowed_files: set[str], names: tuple[str, ...]) -> str:
    """Run ``benign ARGV`` in ``directory`` and check the contract (a refusal is one line that
    contains one of ``names``); returns the outcome."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_SECONDS)
    try:
        r = benign(*argv, cwd=directory)
    except _StoppedError:
        return "accepted (too large to compute here)"
    except _HangError:
        pytest.fail(f"still running after {HANG_SECONDS} s: benign {argv}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert "Traceback" not in r.stderr + r.stdout, argv
    if r.returncode == 0:
        return "accepted"
    assert r.returncode == 2, (argv, r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("benign: error: "), (argv, r.stderr)
    assert any(name in lines[0] for name in names), (argv, lines[0])
    left = {p.name for p in directory.iterdir()} - allowed_files
    assert not left, (argv, left)
    return "refused"


@given(st.lists(st.tuples(flags, st.one_of(st.none(), flag_values)), min_size=1, max_size=3))
def test_run_flags_are_accepted_or_refused_in_one_line(monkeypatch_session, pairs):
    argv = list(BASE)
    for name, value in pairs:
        argv += [name] if value is None else [name, value]
    with tempfile.TemporaryDirectory() as tmp:
        event(check(["run", *argv], Path(tmp), set(), names=("--", "option", "extra argument")))


# ---- sweep files -----------------------------------------------------------------------------

DEFAULTS = [v for v in RunConfig().model_dump().values() if v is not None]
scalars = st.one_of(
    st.sampled_from([*DEFAULTS, 0.05, 0.2, 0.3, 4, 5, 8, 16, 50, "lecun", "ntk", "square"]),
    st.integers(-(2**65), 2**65),
    st.sampled_from([0, 1, 2, 3, 10, 100, 20000, 10**6, 10**6 + 1, 2**63, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=8),
    st.sampled_from(["gd", "lp", "convex", "sphere", "interval", "mnist", "cpu", "cuda:1", ""]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
keys = st.one_of(st.sampled_from(SETTINGS), st.sampled_from(["M", "widht", "seed", "é", ""]))
tables = st.dictionaries(keys, values, max_size=4)
axes = st.dictionaries(keys, st.one_of(st.lists(scalars, max_size=5), scalars), max_size=3)
documents = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.text(max_size=10), scalars),
        "seeds": st.one_of(
            st.integers(-3, 5), scalars, st.lists(st.integers(-2, 2**64), max_size=4)
        ),
        "keep_params": st.one_of(st.integers(-2, 2**15), scalars),
        "fixed": st.one_of(tables, scalars),
        "grid": st.one_of(axes, st.lists(axes, max_size=3), scalars),
        "extra": values,
    },
)


VALID = {"seeds": 2, "fixed": {"m": 6, "width": 4, "d": 3, "steps": 20}, "grid": {"p": [0.1, 0.2]}}


@st.composite
def near_valid(draw) -> dict:
    """A valid sweep with one to three settings (fixed, or a grid axis) or top-level keys
    replaced by hostile values."""
    doc = json.loads(json.dumps(VALID))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["fixed", "grid", "top"]))
        if where == "top":
            doc[draw(st.sampled_from([*TOP_KEYS, "extra"]))] = draw(values)
        elif isinstance(doc.get(where), dict):  # not replaced by a top-level mutation
            value = draw(values if where == "fixed" else st.lists(scalars, max_size=4))
            doc[where][draw(keys)] = value
    return doc


def toml_value(v) -> str:
    """``v`` as a TOML value (inline tables for dictionaries)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(map(toml_value, v)) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


def toml_document(doc: dict) -> str:
    return "".join(f"{k} = {toml_value(v)}\n" for k, v in doc.items())


garbage = st.one_of(
    st.integers(1, 3000).map(lambda n: "x = " + "[" * n + "]" * n + "\n"),
    st.integers(1, 3000).map(lambda n: "x = " + "{a = " * n + "1" + "}" * n + "\n"),
    st.integers(1, 300).map(lambda n: "[" + ".".join(["t"] * n) + "]\n"),
    st.sampled_from(
        [
            "seeds = 2\nseeds = 3\n",
            "seeds = 2\n[fixed]\nm = 5\nm = 6\n",
            "seeds = 2\n[fixed]\n[fixed]\n",
            "seeds = 2\n[grid]\np = [0.1, 0.1]\n",
            "seeds = 2\n[fixed]\np = 0.1\n[grid]\np = [0.2]\n",
            "seeds = 1000000\n[grid]\np = [0.1, 0.2]\n",
            "seeds = [1, 1]\n",
            "\ufeffseeds = 2\n",
            "seeds = 2\n[fixed]\nm = 1_0\nd = 0x3\n",
            "",
        ]
    ),
    st.text(max_size=40),
)


@given(
    st.one_of(
        near_valid().map(toml_document),
        documents.map(toml_document),
        garbage,
        st.binary(max_size=64),
    )
)
def test_sweep_files_are_accepted_or_refused_in_one_line(monkeypatch_session, text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.toml"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, errors="surrogateescape")
        event(check(["sweep", "s.toml", "--dry-run"], Path(tmp), {"s.toml"}, names=("s.toml",)))


@pytest.fixture(scope="module")
def monkeypatch_session():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_run_module, "run_experiment", _small_or_stop)
        yield mp
