"""Sweep files: fixed settings and grid axes in TOML → grid points → runs with ids → ensemble
blocks.

A sweep file has four top-level keys::

    name = "quick"            # optional; default: the file's stem
    seeds = 8                 # N (seeds 0 … N−1) or a list of seeds
    [fixed]                   # settings shared by every run (any `benign run` setting)
    m = 100
    [grid]                    # axes: lists of values; the sweep is their product
    p = [0.05, 0.1, 0.2]
    d = [2, 5, 20]

Several ``[[grid]]`` tables make the sweep the union of their products; a grid table may hold
its own ``seeds``. Every run is one network: its settings (a :class:`RunConfig`) and a seed; a
grid point is one configuration and its seeds.
"""

import difflib
import functools
import hashlib
import itertools
import json
import math
import operator
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from benign.config import RunConfig, describe, ensemble_block, param_shapes
from benign.seeding import MAX_SEED

TOP_KEYS: tuple[str, ...] = ("name", "seeds", "keep_params", "fixed", "grid")
# a network's final parameters are kept in the store when it has at most this many (128 KiB in
# float64: every two-layer net of width 100 up to d = 160); a sweep file's keep_params
KEEP_PARAMS = 2**14
MAX_RUNS = 10**6  # networks in one sweep (or one `benign run`): counted before any is made


class ConfigError(ValueError):
    """A bad sweep file; the message names the file and the key."""


@dataclass(frozen=True)
class Run:
    """One network of a sweep: its settings, its seed and the id hashed from both."""

    config: RunConfig
    seed: int
    run_id: str


def run_id(config: RunConfig, seed: int) -> str:
    """First 20 hex digits of sha256 over the canonical JSON of the seed and the settings that
    differ from their defaults, those its method does not read set to their defaults first
    (:meth:`RunConfig.canonical`): the same run always has the same id, whatever file or grid
    it came from, and a setting added with a default leaves every earlier id as it was."""
    # the JSON of {"seed": seed, "settings": …} with sorted keys, its settings part formed once
    # per configuration (a sweep has many seeds of each)
    text = f'{{"seed":{json.dumps(seed)},"settings":{_settings_text(config)}}}'
    return hashlib.sha256(text.encode()).hexdigest()[:20]


SETTINGS: tuple[str, ...] = tuple(RunConfig.model_fields)  # every setting, in field order
# a configuration's settings as a tuple: in field order, and without p
_values_but_p = operator.attrgetter(*(k for k in SETTINGS if k != "p"))


@functools.lru_cache(maxsize=4096)
def _settings_text(config: RunConfig) -> str:
    """The settings of ``config.canonical()`` that differ from their defaults as canonical
    JSON: ``json.dumps`` with sorted keys and no spaces, written out field by field (the
    settings are finite scalars, or None)."""
    canon, fields = config.canonical(), type(config).model_fields
    pairs = [(k, getattr(canon, k)) for k in sorted(fields)]
    return "{" + ",".join(f'"{k}":{_json(v)}' for k, v in pairs if v != fields[k].default) + "}"


def _json(value: object) -> str:
    """A scalar as ``json.dumps`` writes it."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int | float):
        return repr(value)  # json.dumps writes finite floats and ints by their repr
    return json.dumps(value)


def batch_key(config: RunConfig) -> tuple:
    """Runs with equal keys (every setting but p) train together on one ensemble axis."""
    return _values_but_p(config)


# one core of the development machine (docs/performance.md, A sweep's cost): gradient
# descent's operations of network_work per second (the fused passes reach 10.8–14.3 GFLOP/s
# counting 4·m·width·(d + 1) per step, and `train` adds 40–180%); the 1-D LP's seconds at
# m = 1000 and their growth with m (0.2–0.3 s at 1000, 1.3–2.8 s at 3000); the convex route's
# seconds at m = 50 and their growth (median 0.1–0.3 s at m = 50, 18–56 s at m = 200)
GD_OPS_PER_SECOND = 8e9
LP_SECONDS_1000, LP_GROWTH = 0.25, 1.9
CONVEX_SECONDS_50, CONVEX_GROWTH = 0.3, 3.5
SOLVER_START = 0.02  # seconds a solver's network costs whatever m (its setup, its measures)


def network_work(config: RunConfig) -> float:
    """Floating-point operations of gradient descent for one network at most: steps · 6 · m ·
    parameters (forward and backward passes); 0 for the solvers."""
    if config.resolved_method not in ("gd", "gd+convex"):
        return 0.0
    shapes = param_shapes(config.d, config.width, config.depth, config.bias)
    return config.steps * 6.0 * config.m * sum(math.prod(s) for s in shapes)


def network_seconds(config: RunConfig) -> float:
    """Seconds one network takes on one core, estimated: gradient descent's
    :func:`network_work` at GD_OPS_PER_SECOND (at most: it may stop early); the LP as
    LP_SECONDS_1000 · (m / 1000)^LP_GROWTH; the convex route as CONVEX_SECONDS_50 ·
    (m / 50)^CONVEX_GROWTH (gd+convex: both). Within a factor of about 3 where it was
    measured (docs/performance.md); what it is for is the ratio between networks."""
    method, m = config.resolved_method, config.m
    seconds = network_work(config) / GD_OPS_PER_SECOND
    if method == "lp":
        seconds += SOLVER_START + LP_SECONDS_1000 * (m / 1000) ** LP_GROWTH
    if method in ("convex", "gd+convex"):
        seconds += SOLVER_START + CONVEX_SECONDS_50 * (m / 50) ** CONVEX_GROWTH
    return seconds


@dataclass(frozen=True)
class Block:
    """Runs trained together: equal settings but p, at most ``ensemble_block`` of them; their
    final parameters are kept if a network has at most ``keep_params``."""

    runs: tuple[Run, ...]
    keep_params: int = KEEP_PARAMS

    @property
    def block_id(self) -> str:
        return hashlib.sha256(" ".join(r.run_id for r in self.runs).encode()).hexdigest()[:12]

    def work(self) -> float:
        """:func:`network_work` of its networks."""
        return len(self.runs) * network_work(self.runs[0].config)

    def seconds(self) -> float:
        """:func:`network_seconds` of its networks."""
        return len(self.runs) * network_seconds(self.runs[0].config)


@dataclass(frozen=True)
class Point:
    """One grid point: its settings and the seeds of its networks."""

    config: RunConfig
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class Sweep:
    """A parsed sweep file: its name, its source text and its grid points (no two with one
    configuration). Its runs — a network per point and seed — are made when first asked for:
    the counts come from the points."""

    name: str
    source: str
    points: tuple[Point, ...]
    keep_params: int = KEEP_PARAMS  # keep the parameters of networks with at most this many

    @property
    def size(self) -> int:
        """The number of runs."""
        return sum(len(p.seeds) for p in self.points)

    @functools.cached_property
    def runs(self) -> tuple[Run, ...]:
        return tuple(Run(p.config, s, run_id(p.config, s)) for p in self.points for s in p.seeds)

    def axes(self) -> dict[str, list]:
        """The settings that vary across the runs (and the seed), with their values."""
        values: dict[str, set] = {"seed": {s for p in self.points for s in p.seeds}}
        configs = [p.config for p in self.points]
        for k in SETTINGS:
            values[k] = set(map(operator.attrgetter(k), configs))
        return {
            k: sorted(v, key=repr) if None in v else sorted(v)
            for k, v in values.items()
            if len(v) > 1
        }

    def batches(self) -> list[tuple[RunConfig, int]]:
        """A configuration and the number of runs of each batch — the runs with one
        :func:`batch_key`, cut into :meth:`blocks` — counted without making the runs."""
        return list(self._batches)

    @functools.cached_property
    def _batches(self) -> tuple[tuple[RunConfig, int], ...]:
        counts: dict[tuple, list] = {}
        for p in self.points:
            counts.setdefault(batch_key(p.config), [p.config, 0])[1] += len(p.seeds)
        return tuple((config, n) for config, n in counts.values())

    def block_shapes(self) -> list[tuple[RunConfig, int]]:
        """A configuration and the size of each of :meth:`blocks`, counted without making
        them (the configurations of a block differ at most in p)."""
        shapes = []
        for config, n in self.batches():
            size = ensemble_block(config)
            shapes += [(config, size)] * (n // size) + ([(config, n % size)] if n % size else [])
        return shapes

    def blocks(self) -> list[Block]:
        """The runs cut into ensemble blocks, as a function of the sweep alone (never of the
        executor, the worker count or what is already stored), so that every run is computed
        in the same ensemble whoever computes it: runs with one :func:`batch_key`, ordered by
        (seed, p), in chunks of :func:`ensemble_block` networks."""
        return list(self._blocks)

    @functools.cached_property
    def _blocks(self) -> tuple[Block, ...]:
        keys = {id(p.config): batch_key(p.config) for p in self.points}
        groups: dict[tuple, list[Run]] = {}
        for r in self.runs:
            groups.setdefault(keys[id(r.config)], []).append(r)
        blocks = []
        for runs in groups.values():
            runs.sort(key=lambda r: (r.seed, r.config.p))
            size = ensemble_block(runs[0].config)
            blocks += [
                Block(tuple(runs[i : i + size]), self.keep_params)
                for i in range(0, len(runs), size)
            ]
        return tuple(blocks)


def load_sweep(path: Path) -> Sweep:
    """Read and validate a sweep file; every problem is a :class:`ConfigError`."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file") from None
    return parse_sweep(text, path.name, default_name=path.stem)


def parse_sweep(text: str, origin: str = "<sweep>", default_name: str = "sweep") -> Sweep:
    """Validate a sweep file's text (``origin`` names it in errors) and expand its grid."""

    def fail(key: str, msg: str) -> ConfigError:
        return ConfigError(f"{origin}: {key}: {msg}")

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{origin}: not valid TOML: nested too deeply") from None
    for key in doc:
        if key not in TOP_KEYS:
            raise fail(key, f"unknown key; allowed: {', '.join(TOP_KEYS)}")
    name = doc.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise fail("name", "must be a non-empty string")
    if "seeds" not in doc:
        raise fail("seeds", "missing; give a count (seeds 0 … N−1) or a list of seeds")
    seeds = _seeds(doc["seeds"], "seeds", fail)
    keep = doc.get("keep_params", KEEP_PARAMS)
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise fail("keep_params", f"must be an integer >= 0 (0: keep none), got {keep!r}")
    fixed = doc.get("fixed", {})
    if not isinstance(fixed, dict):
        raise fail("fixed", "must be a table of settings")
    _check_fields(fixed, "fixed", fail)
    grids = doc.get("grid", {})
    if isinstance(grids, dict):
        grids, labels = [grids], ["grid"]
    elif isinstance(grids, list) and grids and all(isinstance(g, dict) for g in grids):
        labels = [f"grid[{i}]" for i in range(len(grids))]
    else:
        raise fail("grid", "must be a table of axes or a non-empty array of tables ([[grid]])")

    points: dict[RunConfig, dict[int, None]] = {}  # the seeds of each configuration, in order
    planned = 0  # runs so far, counted before they are made
    for grid, label in zip(grids, labels, strict=True):
        grid = dict(grid)
        grid_seeds = _seeds(grid.pop("seeds"), f"{label}.seeds", fail) if "seeds" in grid else seeds
        _check_fields(grid, label, fail)
        for key, values in grid.items():
            if key in fixed:
                raise fail(f"{label}.{key}", "is also in [fixed]; give it in one place")
            if not isinstance(values, list):
                raise fail(f"{label}.{key}", "must be a list of values (an axis)")
            if not values:
                raise fail(f"{label}.{key}", "is empty; an axis needs at least one value")
            for i, v in enumerate(values):
                if any(u == v for u in values[:i]):
                    raise fail(f"{label}.{key}", f"repeats the value {v!r}")
        planned += math.prod(len(v) for v in grid.values()) * len(grid_seeds)
        if planned > MAX_RUNS:
            raise fail(label, f"{planned:,} runs or more; a sweep holds at most {MAX_RUNS:,}")
        for point in itertools.product(*grid.values()):
            settings = fixed | dict(zip(grid, point, strict=True))
            config = _run_config(settings, fixed, grid, label, fail).canonical()
            points.setdefault(config, {}).update(dict.fromkeys(grid_seeds))
    return Sweep(
        name=name,
        source=text,
        points=tuple(Point(c, tuple(seeds)) for c, seeds in points.items()),
        keep_params=keep,
    )


def _seeds(value: Any, key: str, fail) -> list[int]:
    """A count N (seeds 0 … N−1) or a non-empty list of distinct seeds in [0, 2^63)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise fail(key, f"must be >= 1 (a count of seeds), got {value}")
        if value > MAX_RUNS:
            raise fail(key, f"must be <= {MAX_RUNS:,} (networks in one sweep), got {value:,}")
        return list(range(value))
    if isinstance(value, list) and value:
        for s in value:
            if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED:
                raise fail(key, f"seeds must be integers in [0, 2^63), got {s!r}")
        if len(set(value)) < len(value):
            raise fail(key, "repeats a seed")
        return list(value)
    raise fail(key, "must be a count >= 1 or a non-empty list of integer seeds")


def _check_fields(table: dict, label: str, fail) -> None:
    """Refuse a key that is not a setting, suggesting the nearest one."""
    for key in table:
        if key not in RunConfig.model_fields:
            near = difflib.get_close_matches(key, RunConfig.model_fields, n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            allowed = ", ".join(RunConfig.model_fields)
            raise fail(f"{label}.{key}", f"unknown setting{hint}; allowed: {allowed}")


def _run_config(settings: dict, fixed: dict, grid: dict, label: str, fail) -> RunConfig:
    """Validate one grid point; an error names the key it came from (and the grid point)."""
    try:
        return RunConfig.model_validate(settings, strict=True)
    except ValidationError as exc:
        field, msg = describe(exc, with_input=True)
        point = ", ".join(f"{k}={v!r}" for k, v in settings.items() if k in grid)
        at = f" (at {point})" if point else ""
        if field in grid:
            return_key = f"{label}.{field}"
        elif field in fixed:
            return_key = f"fixed.{field}"
        else:
            return_key = field or label
        raise fail(return_key, f"{msg}{at}") from None
