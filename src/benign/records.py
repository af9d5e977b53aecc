"""What one network measured, as a record and as a store's columns.

Every column of a store's runs table is the seed, a setting (:class:`benign.config.RunConfig`)
or a field of :class:`NetworkRecord`; the history tables' columns are :data:`HISTORY_KEYS` and
:data:`CERT_KEYS`. Each declares the schema version that added it (settings and record fields
their ``since``, :data:`HISTORY_SINCE`), so that a store of an older version is brought up to
date by adding columns: the rows written before hold NULL for a measure (nobody measured it)
and the default for a setting (what those runs did). This module holds no orchestration: the
store reads it, and so do the analysis and the report, without the training stack.
"""

import dataclasses
import math
import types
import typing
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from benign.config import RunConfig

if TYPE_CHECKING:
    import pandas as pd

OLDEST = 4  # the oldest schema version this benign reads: "since 4" is "in every store read"


def column(since: int) -> Any:
    """A record field that became a store column in schema version ``since``."""
    return dataclasses.field(metadata={"since": since})


def since(name: str) -> int:
    """The schema version that added the runs-table column of a setting or record field."""
    if name in RunConfig.model_fields:
        extra = typing.cast(dict, RunConfig.model_fields[name].json_schema_extra)
        return int(extra["since"])
    fields = {f.name: f for f in dataclasses.fields(NetworkRecord)}
    (field,) = [fields[f] for f, column in RECORD_COLUMNS.items() if column == name]
    return int(field.metadata["since"])


# why a network counts as a failed run (a store's failure column)
# the lp method gave no network ("infeasible": two equal inputs with opposite labels)
LP_FAILURES: tuple[str, ...] = ("lp_failed", "infeasible", "width_too_small")
# the convex route gave no network (its other stops: "kkt", the dual-implied certificate
# held; "round_budget" / "time_budget"; "stuck", no new pattern to try — each with a network)
CONVEX_FAILURES: tuple[str, ...] = (
    "infeasible",  # the patterns tried cannot interpolate the sample
    "solver_failed",  # Clarabel stopped without a solution
    "width_too_small",  # the solution needs more neurons than the net has
    "no_interpolation",  # the network built from the solution has a margin ≤ 0
)

# gradient descent's networks whose numbers left the floating-point range
RANGE_FAILURES: tuple[str, ...] = ("overflow", "underflow", "diverged")


@dataclass(frozen=True)
class NetworkRecord:
    """What one trained network measured. Each field is a column of a store's runs table
    (named as :data:`RENAMED` says), declared with the schema version that added it
    (:func:`column`): a store only ever gains columns, rows written before hold NULL."""

    seed: int = column(4)
    method: str = column(4)
    flips: int = column(4)
    flip_rate: float = column(4)
    train_error: float = column(4)
    interpolated: bool = column(4)
    clean_error: float = column(4)
    clean_lo: float = column(4)
    clean_hi: float = column(4)
    clean_method: str = column(4)
    n_test: int = column(4)
    steps: int = column(4)
    stop_reason: str = column(4)
    seconds: float = column(4)
    loss: float = column(4)
    min_margin: float = column(4)
    normalised_margin: float = column(4)
    eps: float = column(4)
    eps_rel: float = column(4)
    delta: float = column(4)
    delta_rel: float = column(4)
    eps_fixed_rel: float = column(4)
    support: int = column(4)
    kinks: int = column(4)
    certified: bool = column(4)
    # d = 1 with biases: ≥ the relative excess of ½‖θ̃‖² over its least value; elsewhere
    # (two-layer, certified): how much lower a norm other patterns give (≤ the excess)
    global_gap: float = column(7)
    excess_found: float = column(8)
    # "global", "not_global", "kkt" (certified, neither shown), "" (not certified)
    optimality: str = column(7)
    # max over the training points of ‖∇_x f‖ (of f − f_0 if centred)
    lipschitz_lower: float = column(4)
    # Σ|v_j|‖w_j‖ (two-layer) or Π_l s_l ‖W_l‖_2 (deep); + f_0's
    lipschitz_upper: float = column(4)
    # gradient descent's movement (NaN for the lp and convex methods, which do not train):
    param_move: float = column(4)  # ‖θ − θ_0‖/‖θ_0‖
    kernel_move: float = column(4)  # ‖Θ̂ − Θ̂_0‖_F/‖Θ̂_0‖_F on the training points
    pattern_flips: float = column(4)  # share of ReLU activations on the training points changed
    ntk_min: float = column(4)  # λ_min of the analytic (infinite-width) NTK Gram, training points
    entk_min_init: float = column(4)  # λ_min of the empirical NTK Gram at init (gd; NaN else)
    entk_min: float = column(4)  # λ_min of the trained network's empirical NTK Gram
    # convex: what seeded the program ("gates N", "gd"; gd+convex: why not gd); "" otherwise
    seeded: str = column(4)
    rounds: int = column(4)  # lp, convex: programs solved (0 otherwise)
    # gd+convex: gradient descent's own network, before the convex program (NaN / "" otherwise)
    gd_steps: int = column(4)
    gd_stop_reason: str = column(4)
    gd_clean_error: float = column(4)
    gd_normalised_margin: float = column(4)
    gd_eps_rel: float = column(4)
    gd_certified: bool = column(4)

    @classmethod
    def of(cls, values: dict) -> "NetworkRecord":
        """A record from one network's values (NumPy scalars included), each cast to its
        field's type."""
        types = typing.get_type_hints(cls)
        return cls(**{f.name: types[f.name](values[f.name]) for f in dataclasses.fields(cls)})

    def to_dict(self) -> dict:
        """The seed and every field, keyed as a store's columns (:data:`RENAMED`), NaN as None."""
        return {RECORD_COLUMNS.get(k, k): json_ready(v) for k, v in asdict(self).items()}

    @property
    def failure(self) -> str | None:
        """Why this network counts as a failed run, or None: no network (an LP or convex
        failure), numbers out of range (overflow, underflow, divergence), non-finite measures
        (``nan``), or no interpolation within the budget."""
        if self.stop_reason in (*LP_FAILURES, *CONVEX_FAILURES, *RANGE_FAILURES):
            return self.stop_reason
        if not all(map(math.isfinite, (self.train_error, self.clean_error, self.min_margin))):
            return "nan"
        return None if self.interpolated else "no_interpolation"


# NetworkRecord's fields as table columns; the seed is the run's, and the measured values whose
# names are also settings get their own: the method that ran, the steps and convex rounds
# taken, the final loss
RENAMED = {
    "method": "resolved_method",
    "steps": "steps_taken",
    "rounds": "rounds_taken",
    "loss": "final_loss",
}
RECORD_COLUMNS: dict[str, str] = {
    f.name: RENAMED.get(f.name, f.name)
    for f in dataclasses.fields(NetworkRecord)
    if f.name != "seed"
}
assert not set(RECORD_COLUMNS.values()) & set(RunConfig.model_fields), "a column shadows a setting"
DTYPES_OF = {bool: "boolean", int: "Int64", float: "float64", str: "string"}  # pandas, nullable


def value_type(annotation: typing.Any) -> type:
    """bool, int, float or str: the values a setting or record field holds (None aside)."""
    if typing.get_origin(annotation) is typing.Literal:
        return type(typing.get_args(annotation)[0])
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if args and (isinstance(annotation, types.UnionType) or typing.get_origin(annotation)):
        return value_type(args[0])
    return annotation if annotation in DTYPES_OF else str


def column_types() -> dict[str, type]:
    """The value type of each column of a runs table: seed, the settings, the record."""
    hints = typing.get_type_hints(NetworkRecord)
    return (
        {"seed": int}
        | {k: value_type(f.annotation) for k, f in RunConfig.model_fields.items()}
        | {col: value_type(hints[f]) for f, col in RECORD_COLUMNS.items()}
    )


def typed_frame(
    rows: Sequence[Sequence], columns: Sequence[str], kinds: dict[str, type]
) -> "pd.DataFrame":
    """A DataFrame of rows, each column of a known kind in pandas' nullable dtype (None and NaN
    are missing); other columns as pandas infers them."""
    import pandas as pd

    frame = pd.DataFrame.from_records(list(rows), columns=list(columns))
    return frame.astype({c: DTYPES_OF[kinds[c]] for c in frame.columns if c in kinds})


def json_ready(doc: object) -> object:
    """``doc`` as strict JSON holds it: NaN, infinities and pandas' missing value as None
    (JSON has none of them), NumPy scalars as Python's, at any depth (keys as strings)."""
    if isinstance(doc, dict):
        return {str(k): json_ready(v) for k, v in doc.items()}
    if isinstance(doc, list | tuple):
        return [json_ready(v) for v in doc]
    if isinstance(doc, float) and not math.isfinite(doc):
        return None
    if type(doc).__name__ == "NAType":
        return None
    if hasattr(doc, "item"):  # a NumPy scalar
        return json_ready(doc.item())
    return doc


# the thinned training history (one row per network and recorded step), and the certificates
# checked during training; every key but the step is a REAL column of its table
CERT_KEYS: tuple[str, ...] = ("step", "eps_rel", "delta_rel")
HISTORY_KEYS: tuple[str, ...] = (
    "step",
    "loss",
    "train_error",
    "min_margin",
    "normalised_margin",
    "param_move",  # ‖θ_t − θ_0‖ / ‖θ_0‖
    "kernel_move",  # ‖Θ̂_t − Θ̂_0‖_F / ‖Θ̂_0‖_F on the training points, at _kernel_steps
    # and the last step (NaN elsewhere: Θ̂ costs m(d + 2n)/(3dn) steps of a two-layer net)
    "pattern_flips",  # share of (unit, point) ReLU activations changed since step 0
)
HISTORY_SINCE: dict[str, int] = dict.fromkeys([*HISTORY_KEYS, *CERT_KEYS], OLDEST)
