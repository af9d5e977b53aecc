"""The settings of a run: every one but the seed, validated once, naming the field.

:class:`RunConfig` is the boundary where settings are checked (the CLI's options and the sweep
files' keys are generated from its fields). This module is the settings' vocabulary — the
types of the network, training and certificate settings, the network's layout checks and
parameter shapes, the size of an ensemble block — shared by the modules that compute
(:mod:`benign.nets`, :mod:`benign.training`, :mod:`benign.certificate`, which import it) and by
those that only read settings (the store, the analysis, the CLI's help): it loads no PyTorch. The
objects a run computes with are built from it by :mod:`benign.run`.
"""

import functools
import math
import re
import typing
from typing import Annotated, Literal

import psutil
import pydantic
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from benign.data import (
    DATASET_SHAPES,
    DATASETS,
    DistName,
    Distribution,
    Sample,
    check_training_rows,
    dataset_sample,
    noisy_sample,
)
from benign.seeding import rng_for

# ----- the network ------------------------------------------------------------------------
Param = Literal["standard", "ntk"]
Init = Literal["lecun", "he", "ntk"]
PARAMETRISATIONS: tuple[str, ...] = typing.get_args(Param)
INITS: tuple[str, ...] = typing.get_args(Init)
# sizes a network may have: beyond them its tensors cannot fit in memory (width, d) or a
# pass takes hours (depth)
MAX_DIMENSION, MAX_WIDTH, MAX_DEPTH = 10**6, 10**6, 1000


def check_layout(d: int, width: int, depth: int, param: str, init: str, init_scale: float) -> None:
    """Refuse (ValueError naming the setting) a network layout outside the allowed sizes,
    parametrisations, initialisations and init scales (α > 0)."""
    for name, value, low, high in (
        ("d", d, 1, MAX_DIMENSION),
        ("width", width, 1, MAX_WIDTH),
        ("depth", depth, 2, MAX_DEPTH),
    ):
        if value < low:
            raise ValueError(f"{name}: must be >= {low}, got {value}")
        if value > high:
            raise ValueError(f"{name}: must be <= {high:,}, got {value:,}")
    if param not in PARAMETRISATIONS:
        raise ValueError(f"param: must be one of {', '.join(PARAMETRISATIONS)}")
    if init not in INITS:
        raise ValueError(f"init: must be one of {', '.join(INITS)}")
    if not init_scale > 0:
        raise ValueError(f"init_scale: must be > 0, got {init_scale}")


def param_shapes(d: int, width: int, depth: int, bias: bool) -> list[tuple[int, ...]]:
    """Per-network shapes of the parameters W_1, b_1, …, W_L: hidden layers carry a bias when
    ``bias``, the output layer (one unit) never."""
    out: list[tuple[int, ...]] = []
    for layer in range(1, depth + 1):
        n_in = d if layer == 1 else width
        n_out = 1 if layer == depth else width
        out.append((n_out, n_in))
        if bias and layer < depth:
            out.append((n_out,))
    return out


# ----- training and the certificate -------------------------------------------------------
Loss = Literal["logistic", "exponential", "square"]
StepRule = Literal["constant", "normalised", "kernel"]
LOSSES: tuple[str, ...] = typing.get_args(Loss)
STEP_RULES: tuple[str, ...] = typing.get_args(StepRule)
# what each training setting allows, checked by TrainConfig and by RunConfig
StepSize = Annotated[float, Field(gt=0)]
Count = Annotated[int, Field(ge=0, le=10**9)]  # steps: 10⁹ of even the smallest net take days
Seconds = Annotated[float, Field(gt=0)]
LossTol = Annotated[float, Field(gt=0, lt=1)]
Tolerance = Annotated[float, Field(gt=0)]  # a bound on a relative residual


@pydantic.dataclasses.dataclass(frozen=True)
class Tolerances:
    """A net is certified when it interpolates, ε_rel ≤ eps_rel and δ_rel ≤ delta_rel."""

    eps_rel: Tolerance = 0.05
    delta_rel: Tolerance = 0.05


FUSED_MAX_D = 20  # above, BLAS forms the pre-activations faster (docs/performance.md)


def fused_passes_apply(depth: int, float64: bool, cpu: bool, d: int) -> bool:
    """Whether gradient descent takes the fused passes of :mod:`benign.fused`: a two-layer
    net, float64 on the CPU, d ≤ FUSED_MAX_D."""
    return depth == 2 and float64 and cpu and d <= FUSED_MAX_D


# ----- the run ----------------------------------------------------------------------------
Method = Literal["auto", "gd", "lp", "convex", "gd+convex"]
_GD, _SOLVERS = frozenset({"gd", "gd+convex"}), frozenset({"lp", "convex", "gd+convex"})
# the settings only some of the methods read (each method reads every other setting)
METHOD_SETTINGS: dict[str, frozenset[str]] = {
    **dict.fromkeys(("step_rule", "lr", "steps", "loss_tol", "certify_every"), _GD),
    "lp_grid": frozenset(),  # read by no method since the lp became exact
    "gates": _SOLVERS,
    "rounds": frozenset({"lp", "convex", "gd+convex"}),
}


class RunConfig(BaseModel):
    """Every setting of a run but its seed; bad values are refused naming the field. Each
    constraint is checked once: the network's layout by :func:`check_layout` (which
    :class:`benign.nets.ReLUNet` calls too), the input law by :class:`Distribution` (built
    here), the training and certificate settings by the types they share with
    :class:`benign.training.TrainConfig` and :class:`Tolerances`, the rest by their fields.

    Each field names its help panel and ``since``, the store schema version that added its
    column (4: in every store this benign reads). A new setting takes the next version and a
    default that does what runs did before it: old runs keep their ids (only settings away
    from their defaults are hashed, :func:`benign.sweep.config.run_id`) and old stores gain
    the column, filled with the default."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    dist: DistName = Field(
        "sphere",
        description="input law: interval (d = 1), sphere, gaussian, separated (two caps, "
        "f* = sign x_1), or the bundled datasets mnist / digits (d is theirs; training rows "
        "drawn per seed, the rest test)",
        json_schema_extra={"panel": "Data", "since": 4},
    )
    d: int = Field(
        20,
        description="input dimension (1 … 10⁶; 1 on the interval, set by the dataset for "
        "mnist/digits)",
        json_schema_extra={"panel": "Data", "since": 4},
    )
    m: int = Field(
        200,
        ge=1,
        le=20_000,
        description="training samples (at most 20,000: a run forms m × m kernel matrices)",
        json_schema_extra={"panel": "Data", "since": 4},
    )
    p: float = Field(
        0.1,
        ge=0,
        lt=0.5,
        description="label-flip probability, in [0, 0.5)",
        json_schema_extra={"panel": "Data", "since": 4},
    )
    a: float = Field(
        0.0,
        description="left end of the interval distribution",
        json_schema_extra={"panel": "Data", "since": 4},
    )
    b: float = Field(
        1.0,
        description="right end of the interval distribution",
        json_schema_extra={"panel": "Data", "since": 4},
    )
    radius: float = Field(
        1.0,
        description="radius of the sphere and separated laws",
        json_schema_extra={"panel": "Data", "since": 4},
    )
    separation: float = Field(
        0.5,
        description="separated: least distance between the two classes / radius",
        json_schema_extra={"panel": "Data", "since": 4},
    )
    width: int = Field(
        200,
        description="hidden units per layer (1 … 10⁶)",
        json_schema_extra={"panel": "Network", "since": 4},
    )
    depth: int = Field(
        2,
        description="weight layers (2 = the two-layer net; at most 1000)",
        json_schema_extra={"panel": "Network", "since": 4},
    )
    bias: bool = Field(
        True, description="hidden-layer biases", json_schema_extra={"panel": "Network", "since": 4}
    )
    param: Param = Field(
        "standard",
        description="parametrisation: standard (weights ~ N(0, α² c_l / fan_in)) or ntk "
        "(weights ~ N(0, α²), scaled by √(c_l / fan_in) in the forward pass)",
        json_schema_extra={"panel": "Network", "since": 4},
    )
    init: Init = Field(
        "lecun",
        description="initialisation gains c_l: lecun 1, he 2, ntk 2 on hidden layers and 1 on "
        "the output",
        json_schema_extra={"panel": "Network", "since": 4},
    )
    init_scale: float = Field(
        1.0,
        description="α, multiplies every initial weight",
        json_schema_extra={"panel": "Network", "since": 4},
    )
    center: bool = Field(
        False,
        description="train the centred output f − f_0",
        json_schema_extra={"panel": "Network", "since": 4},
    )
    loss: Loss = Field(
        "logistic",
        description="training loss ℓ(q) of the margins: logistic log(1 + e^{−q}), exponential "
        "e^{−q} or square ½(1 − q)²",
        json_schema_extra={"panel": "Training", "since": 4},
    )
    step_rule: StepRule = Field(
        "normalised",
        description="gradient-descent steps: constant (θ ← θ − η∇L), normalised (η/L(θ) with "
        "backtracking) or kernel (constant, η·m/λ_max of the initial empirical NTK: η < 2 is "
        "stable when lazy)",
        json_schema_extra={"panel": "Training", "since": 4},
    )
    lr: StepSize = Field(
        0.5, description="step size η", json_schema_extra={"panel": "Training", "since": 4}
    )
    steps: Count = Field(
        20_000,
        description="step budget per network",
        json_schema_extra={"panel": "Training", "since": 4},
    )
    max_seconds: Seconds | None = Field(
        None,
        description="time budget per ensemble block (lp, convex: per network)",
        json_schema_extra={"panel": "Training", "since": 4},
    )
    loss_tol: LossTol = Field(
        1e-3,
        description="stop once interpolating with L ≤ this",
        json_schema_extra={"panel": "Training", "since": 4},
    )
    test_half_width: float = Field(
        0.01,
        gt=0,
        lt=0.5,
        description="Monte Carlo clean error: 95% half-width at worst",
        json_schema_extra={"panel": "Measures", "since": 4},
    )
    method: Method = Field(
        "auto",
        description="gd: gradient descent from a random initialisation; lp: the minimum-norm "
        "interpolant, exactly (two-layer nets with bias on the interval); "
        "convex: a KKT point of the margin problem from the convex program over activation "
        "patterns, seeded by random gates (two-layer uncentred nets); gd+convex: gradient "
        "descent, then the convex program from its network's patterns (both networks "
        "recorded); auto: lp where it applies, else convex for two-layer uncentred nets, "
        "else gd",
        json_schema_extra={"panel": "Solver", "since": 4},
    )
    lp_grid: int = Field(
        2000,
        ge=2,
        le=10**6,
        description="no longer read: the lp method finds its kinks exactly (kept so that "
        "older sweep files and stores load)",
        json_schema_extra={"panel": "Solver", "since": 4},
    )
    gates: int = Field(
        0,
        ge=0,
        le=10**5,
        description="convex: random gate patterns that seed the program, each with both signs "
        "(0: 256 in d ≤ 3, where cells are few and narrow, else 64)",
        json_schema_extra={"panel": "Solver", "since": 4},
    )
    rounds: int = Field(
        100,
        ge=1,
        le=10**5,
        description="lp, convex: programs solved at most per network (lp: each adds the kinks "
        "its multipliers ask for; convex: reseedings included, each refines the patterns)",
        json_schema_extra={"panel": "Solver", "since": 4},
    )
    certify_every: Count = Field(
        500,
        description="gd: check the KKT certificate every this many steps (0: never)",
        json_schema_extra={"panel": "Measures", "since": 4},
    )
    cert_eps: Tolerance = Field(
        0.05,
        description="certified if ε_rel ≤ this (and δ_rel)",
        json_schema_extra={"panel": "Measures", "since": 4},
    )
    cert_delta: Tolerance = Field(
        0.05,
        description="certified if δ_rel ≤ this (and ε_rel)",
        json_schema_extra={"panel": "Measures", "since": 4},
    )
    dtype: Literal["float64", "float32"] = Field(
        "float64",
        description="floating-point type of the data and the networks",
        json_schema_extra={"panel": "Run", "since": 4},
    )
    device: str = Field(
        "cpu",
        description="where the networks are computed: cpu, cuda or cuda:N",
        json_schema_extra={"panel": "Run", "since": 4},
    )

    @model_validator(mode="before")
    @classmethod
    def _dataset_dimension(cls, data: object) -> object:
        """A dataset fixes d, and so does the interval (d = 1): filled in when not given."""
        if isinstance(data, dict) and "d" not in data:
            if data.get("dist") in DATASETS:
                data = dict(data, d=DATASET_SHAPES[data["dist"]][1])
            elif data.get("dist") == "interval":
                data = dict(data, d=1)
        return data

    @model_validator(mode="after")
    def _check(self) -> "RunConfig":
        if self.dist in DATASETS:
            dim = DATASET_SHAPES[self.dist][1]
            if self.d != dim:
                raise ValueError(f"d: the {self.dist} dataset has d = {dim}, got {self.d}")
            check_training_rows(self.dist, self.m)
        else:
            self.distribution()
        check_layout(self.d, self.width, self.depth, self.param, self.init, self.init_scale)
        if not re.fullmatch(r"cpu|cuda(:\d+)?", self.device):
            raise ValueError(f"device: must be cpu or cuda[:N], got {self.device!r}")
        if self.method == "lp" and not self.lp_applies:
            raise ValueError(
                "method: lp needs a two-layer net (depth 2) with bias, uncentred, on the interval"
            )
        if self.method in ("convex", "gd+convex") and not self.convex_applies:
            raise ValueError(f"method: {self.method} needs a two-layer net (depth 2), uncentred")
        return self

    @property
    def lp_applies(self) -> bool:
        return self.dist == "interval" and self.depth == 2 and self.bias and not self.center

    @property
    def convex_applies(self) -> bool:
        """The margin problem's convex view holds for uncentred two-layer nets."""
        return self.depth == 2 and not self.center

    @property
    def resolved_method(self) -> str:
        """The method that runs: ``auto`` is lp where it applies, else convex where it
        applies, else gd."""
        if self.method == "auto":
            return "lp" if self.lp_applies else "convex" if self.convex_applies else "gd"
        return self.method

    def uses(self, setting: str) -> bool:
        """Whether the method that runs reads ``setting`` (:data:`METHOD_SETTINGS`): e.g.
        ``gates`` only the solvers, the step size only gradient descent."""
        return setting not in METHOD_SETTINGS or self.resolved_method in METHOD_SETTINGS[setting]

    def canonical(self) -> "RunConfig":
        """The same run with the settings its method does not read (:meth:`uses`) at their
        defaults: runs that differ only there are one run, with one id."""
        unused = {
            k: RunConfig.model_fields[k].default
            for k in METHOD_SETTINGS
            if not self.uses(k) and getattr(self, k) != RunConfig.model_fields[k].default
        }
        return self.model_copy(update=unused) if unused else self

    def memory_floor(self, ensemble: int) -> int:
        """Bytes that ``ensemble`` networks trained together need at the least: their hidden
        activations E·m·width·(depth − 1), their parameters, and one m × m kernel (the
        empirical NTK measure), at the dtype's size."""
        item = 8 if self.dtype == "float64" else 4
        shapes = param_shapes(self.d, self.width, self.depth, self.bias)
        params = sum(math.prod(shape) for shape in shapes)
        return item * (ensemble * (self.m * self.width * (self.depth - 1) + params) + self.m**2)

    def check_memory(self, ensemble: int, processes: int = 1) -> None:
        """Refuse settings whose :meth:`memory_floor`, in each of ``processes`` at once,
        exceeds the memory this machine has available."""
        need = processes * self.memory_floor(ensemble)
        available = psutil.virtual_memory().available
        if need > available:
            each = f"{processes} worker processes, each with " if processes > 1 else ""
            raise ValueError(
                f"not enough memory: {each}{ensemble} network{'s' * (ensemble > 1)} of "
                f"m = {self.m}, width = {self.width}, depth = {self.depth}, d = {self.d}, need "
                f"at least {need / 2**30:.3g} GiB in all; {available / 2**30:.3g} GiB is "
                "available"
            )

    def tolerances(self) -> Tolerances:
        return Tolerances(self.cert_eps, self.cert_delta)

    def distribution(self) -> Distribution:
        """The generated input law (not for the datasets)."""
        return _distribution(self.dist, self.d, self.a, self.b, self.radius, self.separation)

    def sample(self, seed: int) -> Sample:
        """The noisy training sample of the network with this seed."""
        rng = rng_for(seed, "data")
        if self.dist in DATASETS:
            return dataset_sample(self.dist, self.m, self.p, rng)
        return noisy_sample(self.distribution(), self.m, self.p, rng)


# both are immutable, and checked when made: a sweep's grid points share them (a 1000 × 1000
# grid made each of them 10⁶ times)
@functools.lru_cache(maxsize=4096)
def _distribution(
    dist: DistName, d: int, a: float, b: float, radius: float, separation: float
) -> Distribution:
    return Distribution(dist, d, a=a, b=b, radius=radius, separation=separation)


BLOCK_ELEMENTS = 2**18  # hidden activations per ensemble block, see docs/performance.md
FUSED_BLOCK_ELEMENTS = 2**22  # the fused passes: hidden activations of the history's steps


def ensemble_block(config: RunConfig) -> int:
    """Networks per batched ensemble, between 1 and 16: as many as keep E·m·width ≤ 2^18
    hidden activations (2 MiB in float64: wider ensembles leave the cache and get slower);
    where gradient descent takes the fused passes (:func:`fused_passes_apply`), which keep
    none between the history's steps, ≤ 2^22 (32 MiB)."""
    trains = config.resolved_method in ("gd", "gd+convex")
    fused = trains and fused_passes_apply(
        config.depth, config.dtype == "float64", config.device == "cpu", config.d
    )
    elements = FUSED_BLOCK_ELEMENTS if fused else BLOCK_ELEMENTS
    return max(1, min(16, elements // (config.m * config.width)))


def describe(exc: ValidationError, with_input: bool = False) -> tuple[str | None, str]:
    """The first error of a :class:`RunConfig` validation as (field, message).

    The field is the one it names (for a cross-field check, the ``field:`` its message starts
    with; None if none); ``with_input`` appends ``, got VALUE`` to a one-field error whose
    message does not say what it got.
    """
    e = exc.errors()[0]
    msg = e["msg"].removeprefix("Value error, ")
    if e["loc"]:
        got = f", got {e['input']!r}" if with_input and "got" not in msg else ""
        return str(e["loc"][0]), msg + got
    head, sep, rest = msg.partition(": ")
    if sep and head in RunConfig.model_fields:
        return head, rest
    return None, msg
