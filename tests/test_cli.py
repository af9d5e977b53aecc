"""The `benign run` command: output, --json, --save, and one-line errors for bad input."""

import json
import os
from pathlib import Path
from typing import Literal, get_args, get_origin

import numpy as np
import pytest
import torch
from helpers import benign

from benign.measures import exact_clean_error_1d

QUICK = ["--width", "60", "--steps", "3000"]


def test_json_records():
    r = benign(
        "run",
        "--dist",
        "sphere",
        "--d",
        "60",
        "--m",
        "30",
        "--p",
        "0.2",
        "--seeds",
        "3",
        "--json",
        "--method",
        "gd",
        *QUICK,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["config"]["d"] == 60 and len(doc["records"]) == 3
    assert [rec["seed"] for rec in doc["records"]] == [0, 1, 2]
    for rec in doc["records"]:
        assert rec["interpolated"] and rec["train_error"] == 0
        # a small loss is not a KKT point: said so unless the certificate holds at the stop
        assert rec["stop_reason"] == ("certified" if rec["certified"] else "loss_tol")
        assert rec["clean_method"] == "monte-carlo" and rec["n_test"] == 9604
        assert rec["clean_lo"] <= rec["clean_error"] <= rec["clean_hi"]
        assert rec["history"]["step"][-1] == rec["steps_taken"]
        assert rec["resolved_method"] == "gd" and isinstance(rec["certified"], bool)
        assert rec["eps_rel"] is not None and rec["eps_rel"] >= 0
        assert rec["history"]["loss"][-1] == pytest.approx(rec["final_loss"])


def test_default_method_in_high_dimension_is_the_certified_convex_route():
    r = benign(
        "run",
        "--dist",
        "sphere",
        "--d",
        "60",
        "--m",
        "30",
        "--p",
        "0.2",
        "--seeds",
        "2",
        "--width",
        "60",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    for rec in json.loads(r.stdout)["records"]:
        assert rec["resolved_method"] == "convex" and rec["certified"]
        assert rec["rounds_taken"] >= 1 and rec["steps_taken"] == 0 and rec["history"] == {}
        assert rec["seeded"] == "gates 64"
        assert rec["eps_rel"] <= 0.05 and rec["delta_rel"] <= 0.05
    bad = benign("run", "--depth", "3", "--method", "convex")
    assert bad.returncode == 2
    assert "method: convex needs a two-layer net (depth 2), uncentred" in bad.stderr


def test_table_and_save_in_one_dimension(tmp_path):
    path = tmp_path / "out.npz"
    r = benign(
        "run",
        "--dist",
        "interval",
        "--d",
        "1",
        "--m",
        "20",
        "--p",
        "0.1",
        "--seeds",
        "2",
        "--save",
        str(path),
        *QUICK,
    )
    assert r.returncode == 0, r.stderr
    assert "exact" in r.stdout and "seed" in r.stdout and f"saved {path}" in r.stdout
    assert "method lp" in r.stdout and "2 certified KKT" in r.stdout
    z = np.load(path)
    assert int(z["format"]) == 2
    assert z["x"].shape == (2, 20, 1) and z["y"].shape == (2, 20) and z["flipped"].shape == (2, 20)
    assert np.array_equal(z["y"] == -1, z["flipped"])
    w, b, v = z["layer1.weight"], z["layer1.bias"], z["layer2.weight"]
    assert w.shape == (2, 60, 1) and b.shape == (2, 60) and v.shape == (2, 1, 60)
    # the saved net reproduces the reported numbers: train error and exact clean error
    records = json.loads(str(z["records"]))
    out = (np.maximum(z["x"] @ w.transpose(0, 2, 1) + b[:, None, :], 0) @ v.transpose(0, 2, 1))[
        ..., 0
    ]
    for e, rec in enumerate(records):
        assert rec["train_error"] == pytest.approx(np.mean(z["y"][e] * out[e] <= 0))
        exact = exact_clean_error_1d(
            *(torch.as_tensor(t[e : e + 1]) for t in (v[:, 0], w, b)), 0.0, 1.0
        )
        assert rec["clean_error"] == pytest.approx(float(exact[0]), abs=1e-12)
    # the initial parameters are saved too, and differ from the trained ones
    assert not np.array_equal(z["init.layer1.weight"], w)


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--p", "0.5"], "--p"),
        (["--p", "-0.1"], "--p"),
        (["--p", "nan"], "--p"),
        (["--d", "0"], "--d"),
        (["--m", "0"], "--m"),
        (["--width", "0"], "--width"),
        (["--dist", "cube"], "--dist"),
        (["--dist", "interval", "--d", "3"], "--d"),
        (["--lr", "nan"], "--lr"),
        (["--m", "ten"], "--m"),
        (["--seeds", "0"], "--seeds"),
        (["--loss", "hinge"], "--loss"),
        (["--threads", "0"], "--threads"),
        (["--method", "lp"], "--method"),
        (["--method", "newton"], "--method"),
        (["--certify-every", "-1"], "--certify-every"),
        (["--dist", "interval", "--d", "1", "--a", "1", "--b", "0"], "--b"),
        (["--dist", "interval", "--d", "1", "--a", "-1e308", "--b", "1e308"], "--b"),
        (["--dist", "digits", "--d", "20"], "--d"),
        (["--dist", "mnist", "--m", "5000"], "--m"),
        (["--dist", "separated", "--separation", "0"], "--separation"),
        (["--step-rule", "fast"], "--step-rule"),
        (["--device", "tpu"], "--device"),
        (["--device", "cudaX"], "--device"),
        (["--device", "cuda:"], "--device"),
        (["--seed", str(2**63 - 1), "--seeds", "2"], "--seed"),
        # sizes beyond what fits: refused before any tensor is made (and no hang)
        (["--m", "1000000000"], "--m"),
        (["--width", "18446744073709551616"], "--width"),
        (["--depth", "9223372036854775808"], "--depth"),
        (["--d", "10000000"], "--d"),
        (["--seeds", "100000000000"], "--seeds"),
        (["--threads", "1000000000"], "--threads"),
        pytest.param(
            ["--device", "cuda"],
            "--device",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a machine without CUDA"),
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, args, flag):
    """Refused before any work: one line naming the flag, exit code 2, no file."""
    path = tmp_path / "never.npz"
    r = benign("run", *args, "--save", str(path), cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0] and lines[0].startswith("benign: error:")
    assert r.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_save_into_a_missing_directory_is_refused(tmp_path):
    r = benign("run", "--save", str(tmp_path / "no" / "out.npz"))
    assert r.returncode == 2 and "--save" in r.stderr
    assert list(tmp_path.iterdir()) == []
    r = benign("run", "--save", str(tmp_path))
    assert r.returncode == 2 and "--save" in r.stderr and "directory" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_help_and_version():
    r = benign("run", "--help")
    assert r.returncode == 0 and "--dist" in r.stdout and "--save" in r.stdout
    r = benign("--version", fresh=True)  # the console entry point in a process of its own
    assert r.returncode == 0 and r.stdout.startswith("benign ")
    r = benign("run", "--width", "0", fresh=True)
    assert r.returncode == 2 and r.stderr.startswith("benign: error: --width:")


def test_run_options_are_generated_from_the_settings():
    """Every RunConfig field is an option of `benign run`: its flag, type, default, description
    (with a Literal's values) and help panel; d is left to RunConfig (a dataset fixes it)."""
    from benign.cli import load_command
    from benign.cli.options import PANELS
    from benign.config import RunConfig

    params = {p.name: p for p in load_command("run").params}
    for name, field in RunConfig.model_fields.items():
        p = params[name]
        assert p.opts == ["--" + name.replace("_", "-")]
        assert field.description and p.help.startswith(field.description)
        assert p.default == (None if name == "d" else field.default)
        if get_origin(field.annotation) is Literal:
            assert p.help.endswith("[one of: " + ", ".join(get_args(field.annotation)) + "]")
    assert params["bias"].secondary_opts == ["--no-bias"]
    assert params["center"].secondary_opts == ["--no-center"]
    assert params["max_seconds"].default is None
    assert all(p.rich_help_panel in PANELS for p in params.values() if p.name != "help")
    for name in ("seeds", "seed", "block", "threads", "json_out", "save"):
        assert name in params and name not in RunConfig.model_fields
    r = benign("run", "--help")
    assert all(panel in r.stdout for panel in PANELS)


def test_a_dataset_sets_d_when_it_is_not_given():
    args = ["run", "--dist", "digits", "--m", "20", "--width", "10", "--steps", "50"]
    r = benign(*args, "--seeds", "1", "--method", "gd", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["config"]["d"] == 64


def test_an_unwritable_save_path_is_refused_before_training(tmp_path):
    long = tmp_path / ("x" * 300 + ".npz")
    r = benign("run", "--save", long, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("benign: error: --save: the file name is")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.access(locked, os.W_OK):  # root writes anywhere: nothing to refuse
        return
    r = benign("run", "--save", locked / "x.npz", cwd=tmp_path)
    assert r.returncode == 2 and "is not writable" in r.stderr


def test_settings_beyond_the_memory_available_are_refused_before_any_work(tmp_path, monkeypatch):
    import psutil

    from benign.config import RunConfig

    # m = 3, d = 2, width 5, depth 3, with biases: 5·2 + 5 + 5·5 + 5 + 5 = 50 parameters a net;
    # two nets: 2·(3·5·2 activations + 50) + 3² kernel entries = 169 float64 numbers
    config = RunConfig(m=3, d=2, width=5, depth=3)
    assert config.memory_floor(2) == 8 * 169
    assert RunConfig(m=3, d=2, width=5, depth=3, dtype="float32").memory_floor(2) == 4 * 169
    low = psutil.virtual_memory()._replace(available=2 * 2**30)  # 2 GiB left
    monkeypatch.setattr(psutil, "virtual_memory", lambda: low)
    # 8 bytes · (4·10⁸ activations + 4.4·10⁵ parameters + 4·10⁸ kernel entries) = 5.96 GiB
    r = benign("run", "--m", "20000", "--width", "20000", "--seeds", "1", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("benign: error: not enough memory: 1 network of m = 20000")
    assert "need at least 5.96 GiB in all; 2 GiB is available" in r.stderr
    assert "--width" in r.stderr
    sweep = tmp_path / "big.toml"  # two workers at once, each with a 2.24 GiB block
    sweep.write_text("seeds = 2\n[fixed]\nm = 10000\nwidth = 20000\nd = 5\n")
    r = benign("sweep", sweep, "--workers", "2", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "big.toml: not enough memory: 2 worker processes, each with 1 network" in r.stderr
    assert "need at least 4.47 GiB in all" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.toml"]


@pytest.mark.parametrize(
    ("sig", "code", "line"),
    [("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "terminated (SIGTERM)")],
)
def test_an_interrupt_while_the_command_starts_is_one_line(sig, code, line):
    """Ctrl-C or SIGTERM while a command loads its libraries (seconds) is one line."""
    import signal
    import subprocess
    import sys
    import time

    command = ["run", "--dist", "interval", "--m", "4", "--width", "8", "--seeds", "1", "--json"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "benign", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    # the signal that the command is loading: PyTorch's library mapped into the process (its
    # import, inside the command's interrupt handler, then takes a second or more)
    maps = Path(f"/proc/{proc.pid}/maps")
    deadline = time.monotonic() + 60
    while "libtorch" not in maps.read_text() and time.monotonic() < deadline:
        time.sleep(0.001)
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (code, f"benign: {line}\n")


@pytest.mark.slow
def test_an_interrupt_while_a_network_computes_is_one_line(tmp_path):
    """Ctrl-C while `benign run` solves its programs (typer turns it into exit code 130) is
    the same one line as while it starts, and writes nothing."""
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benign",
            "run",
            "--dist",
            "sphere",
            "--d",
            "20",
            "--m",
            "200",
            "--p",
            "0.2",
            "--width",
            "400",
            "--method",
            "convex",
            "--save",
            "net.npz",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stderr is not None
    lines = []  # the signal: the first program's progress line (after the time estimate)
    while not any("convex: program" in line for line in lines):
        lines.append(proc.stderr.readline())
        assert lines[-1], lines  # the process ended without one
    assert any("about" in line and "estimated" in line for line in lines[:-1]), lines
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=60)
    assert (proc.returncode, rest.splitlines()[-1:]) == (130, ["benign: interrupted"]), rest
    assert "Traceback" not in rest
    assert list(tmp_path.iterdir()) == []


def _imported_by(argv: list[str], heavy: tuple[str, ...]) -> tuple[list[str], str]:
    """The modules of ``heavy`` that `benign ARGV` imports, in a fresh interpreter, and its
    stderr."""
    import subprocess
    import sys

    code = (
        f"import sys; sys.argv = ['benign', *{argv!r}]\n"
        "from benign.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"import json; print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr


def test_help_and_version_import_no_command():
    """`benign --help` and `--version` import no command's module (PyTorch, SciPy, Matplotlib:
    seconds); the list of commands is that of the commands themselves."""
    from benign.cli import COMMANDS, load_command

    heavy = ("torch", "scipy", "matplotlib", "numpy", "pandas", "numba", "benign.config")
    for flag in ("--help", "--version"):
        assert _imported_by([flag], heavy)[0] == [], flag
    for name, (_, _, summary) in COMMANDS.items():
        command = load_command(name)
        assert command.name == name and command.help.split("\n\n")[0].strip() == summary
    r = benign("--help")
    assert all(name in r.stdout for name in COMMANDS)


def test_no_commands_help_loads_the_training_stack():
    """`benign COMMAND --help` builds its options without PyTorch or the solvers (a fraction
    of a second instead of seconds): they are imported once a command computes."""
    from benign.cli import COMMANDS

    for name in COMMANDS:
        imported, stderr = _imported_by(
            [name, "--help"], ("torch", "scipy", "clarabel", "matplotlib")
        )
        assert imported == [], (name, stderr)


def test_the_interval_sets_d_to_1_when_d_is_not_given():
    """`--dist interval` alone runs in d = 1 (the default d = 20 is the sphere's); a d the
    user gives is still checked."""
    from benign.config import RunConfig

    assert RunConfig(dist="interval").d == 1 and RunConfig().d == 20
    r = benign("run", "--dist", "interval", "--m", "12", "--width", "30", "--seeds", "1", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["config"]["d"] == 1
    bad = benign("run", "--dist", "interval", "--d", "20", "--m", "12")
    assert bad.returncode == 2 and "--d" in bad.stderr and bad.stderr.count("\n") == 1


def test_the_table_fits_the_width_and_names_what_it_leaves_out():
    """COLUMNS = 80 and 120 (not a terminal): no line is wider, no cell is cut ("…"), the
    clean error and the certificate are kept, and the caption names the columns left out —
    fewer at 120 than at 80."""
    from rich.cells import cell_len

    left = {}
    for columns in (80, 120):
        r = benign("run", "--dist", "interval", "--m", "20", "--width", "40", "--seeds", "2",
                   "--method", "gd", "--steps", "50", env={"COLUMNS": str(columns)})  # fmt: skip
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()  # Θ̂ is two code points in one cell
        assert max(map(cell_len, lines)) <= columns and "…" not in r.stdout
        header = next(line for line in lines if line.strip().startswith("seed"))
        assert "clean err" in header and "KKT" in header and "stop" in header
        caption = " ".join(r.stdout.split())
        names = caption.split(f"not shown in {columns} columns: ")[1].split(" (a wider")[0]
        left[columns] = names.split(", ")
        assert all(name not in header for name in left[columns])
    assert 0 < len(left[120]) < len(left[80])


def test_without_a_terminal_or_columns_every_column_is_shown_whole():
    r = benign("run", "--dist", "interval", "--m", "20", "--width", "40", "--seeds", "2",
               "--method", "gd", "--steps", "50")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "not shown" not in r.stdout and "…" not in r.stdout
    assert "step_budget" in r.stdout and "λ_min Θ̂" in r.stdout and "Θ̂ moved" in r.stdout


def test_csv_and_json_are_keyed_as_a_stores_columns():
    import io

    import pandas as pd

    from benign.records import RECORD_COLUMNS

    args = ("run", "--dist", "interval", "--m", "20", "--width", "40", "--seeds", "3")
    csv = benign(*args, "--format", "csv")
    assert csv.returncode == 0, csv.stderr
    frame = pd.read_csv(io.StringIO(csv.stdout))
    assert list(frame.seed) == [0, 1, 2] and set(RECORD_COLUMNS.values()) <= set(frame.columns)
    assert (frame.resolved_method == "lp").all() and (frame.d == 1).all()
    doc = json.loads(benign(*args, "--format", "json").stdout)
    rec = doc["records"][0]
    assert set(RECORD_COLUMNS.values()) <= set(rec) and "steps" not in rec and "loss" not in rec
    assert rec["clean_error"] == pytest.approx(frame.clean_error[0], rel=1e-12)
    bad = benign(*args, "--format", "xml")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--format" in bad.stderr


def test_progress_lines_on_stderr_when_not_a_terminal(monkeypatch):
    """Not a terminal: a line on stderr at most every HEARTBEAT_SECONDS (0 here: at every
    report, through the solvers' heartbeat), saying the block, the networks left and the step."""
    import importlib
    import re

    monkeypatch.setattr(importlib.import_module("benign.methods"), "HEARTBEAT_SECONDS", 0.0)
    r = benign("run", "--dist", "interval", "--m", "20", "--width", "40", "--seeds", "2",
               "--method", "gd", "--steps", "300")  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("benign: run · ")]
    assert lines and all(
        re.fullmatch(
            r"benign: run · block 1/1 · \d+ networks training · step \d+/300 · \d+ s", line
        )
        for line in lines
    )


def test_help_shows_no_value_type_for_a_flag():
    """--json, --check, --help, --bias take no value: no <bool> beside them."""
    for command in ("run", "status", "kkt-points"):
        r = benign(command, "--help")
        assert r.returncode == 0 and "--help" in r.stdout and "<bool>" not in r.stdout
    assert "<int>" in benign("run", "--help").stdout  # a value's type is still shown
    usage = benign("sweep", "--help").stdout
    assert "SWEEP.toml" in usage and "{config}" not in usage  # a placeholder, not a template


def test_a_run_estimated_to_be_long_says_so_when_it_starts():
    """GD's step budget of 10⁸ makes minutes at most (it stops far sooner here): a line on
    stderr before any work; a small run says nothing."""
    r = benign("run", "--dist", "sphere", "--d", "5", "--m", "20", "--width", "40", "--method",
               "gd", "--steps", "100000000", "--seeds", "1", "--format", "csv")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "benign: 1 network, gd at m = 20, width 40: about" in r.stderr and "at most" in r.stderr
    quick = benign("run", "--dist", "interval", "--m", "20", "--width", "40", "--seeds", "1")
    assert quick.returncode == 0 and "estimated" not in quick.stderr
