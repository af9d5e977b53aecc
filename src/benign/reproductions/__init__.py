"""`benign reproduce`: every claim of both papers as a runnable experiment that ends in a
verdict (docs/reproductions.md).

A reproduction of claim NAME in DIR (``-quick`` after NAME for the reduced grid):

- ``DIR/NAME.toml``: the claim's sweep file, copied from the package;
- ``DIR/NAME.sqlite``: its store (resumed when it is there), or, for a claim without networks,
  ``DIR/NAME.evidence.json``: the evidence computed instead;
- ``DIR/NAME.json``: the verdict, its evidence, the counts of networks used and left out,
  the settings and versions; ``DIR/NAME.html``: the report, the verdict first.
"""

import html
import importlib.metadata
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError, field_validator

from benign.records import json_ready
from benign.reproductions.claims import CLAIMS, Claim
from benign.reproductions.rules import OUTCOMES, Verdict, counted

__all__ = [
    "CLAIMS",
    "OUTCOMES",
    "Claim",
    "Plan",
    "Reproduction",
    "conclude",
    "plan",
    "reproduce",
    "summary_table",
]


@dataclass(frozen=True)
class Plan:
    """Where a reproduction's files go."""

    claim: Claim
    quick: bool
    first_seed: int  # the first of the seeds (of the sweep and of the computed evidence)
    sweep_file: Path | None  # None: the claim has no networks
    store: Path | None
    evidence_file: Path | None  # the computed evidence, where the claim has some
    result: Path
    report: Path


@dataclass
class Reproduction:
    """A claim's verdict with its evidence and where its files are."""

    name: str
    claim: str
    paper: str
    quick: bool
    verdict: str
    reason: str
    key: str
    rule: str
    evidence: dict
    networks: dict  # counted(): runs, done, failed, certified, used, left out
    store: str
    report: str
    seconds: float
    versions: dict

    def to_json(self) -> dict:
        """``{"name", "claim", "verdict", "evidence", "store", "report", …}`` (NaN as null)."""
        doc = json_ready(asdict(self))
        assert isinstance(doc, dict)
        return doc


def file_stem(name: str, quick: bool = False, first_seed: int = 0) -> str:
    """NAME, NAME-quick, NAME-seedK or NAME-quick-seedK: the stem of a reproduction's files."""
    return name + ("-quick" if quick else "") + (f"-seed{first_seed}" if first_seed else "")


def plan(name: str, directory: Path, quick: bool = False, first_seed: int = 0) -> Plan:
    """The files of claim ``name`` (one of :data:`CLAIMS`) in ``directory`` (made, with the sweep
    file copied in); with seeds from ``first_seed`` on, NAME-seedK (K = first_seed)."""
    claim = CLAIMS[name]
    stem = file_stem(name, quick, first_seed)
    directory.mkdir(parents=True, exist_ok=True)
    sweep_file = store = None
    if claim.sweep:
        sweep_file, store = directory / f"{stem}.toml", directory / f"{stem}.sqlite"
        sweep_file.write_text(claim.sweep_file(quick, first_seed))
    return Plan(
        claim=claim,
        quick=quick,
        first_seed=first_seed,
        sweep_file=sweep_file,
        store=store,
        evidence_file=directory / f"{stem}.evidence.json" if claim.compute else None,
        result=directory / f"{stem}.json",
        report=directory / f"{stem}.html",
    )


def reproduce(
    name: str,
    directory: Path | str = "benign-reproduce",
    quick: bool = False,
    workers: int = 1,
    first_seed: int = 0,
) -> Reproduction:
    """Run claim ``name`` into ``directory``: its sweep (resumed where its store has runs; with
    ``workers`` processes; seeds from ``first_seed`` on), its computed evidence, its verdict,
    its JSON and report."""
    from benign.sweep.execute import compute

    p = plan(name, Path(directory), quick, first_seed)
    start = time.perf_counter()
    if p.sweep_file is not None and p.store is not None:  # with benign sweep's guards
        compute(p.sweep_file, p.store, "local", workers, command=f"reproduce {name}")
    return conclude(p, time.perf_counter() - start)


def conclude(p: Plan, seconds: float = math.nan) -> Reproduction:
    """The verdict of a planned reproduction whose sweep has run: its evidence computed (and
    written), its rule applied to the store, its JSON and report written."""
    import pandas as pd

    from benign.sweep.config import load_sweep
    from benign.sweep.store import table_frame

    start = time.perf_counter()
    computed: dict = {}
    if p.claim.compute is not None and p.evidence_file is not None:
        computed = p.claim.compute(p.quick, p.first_seed)
        p.evidence_file.write_text(json.dumps(json_ready(computed), indent=1))
    runs = pd.DataFrame()
    if p.store is not None and p.sweep_file is not None:  # the runs of this sweep file alone
        runs = table_frame(p.store)
        runs = runs[runs["run_id"].isin({r.run_id for r in load_sweep(p.sweep_file).runs})]
    if p.claim.sweep and runs.empty:
        verdict = Verdict("inconclusive", "the store holds no run of this sweep file", "—")
    else:
        verdict = p.claim.rule(runs, computed)
    networks = counted(runs, p.claim.certified_only) if p.claim.sweep else {}
    store = p.store if p.store is not None else p.evidence_file
    result = Reproduction(
        name=p.claim.name,
        claim=p.claim.claim,
        paper=p.claim.paper,
        quick=p.quick,
        verdict=verdict.verdict,
        reason=verdict.reason,
        key=verdict.key,
        rule=_rule_text(p.claim),
        evidence=verdict.evidence,
        networks=networks,
        store=str(store),
        report=str(p.report),
        seconds=seconds + time.perf_counter() - start,
        versions=_versions(),
    )
    _write_report(p, result, computed)
    p.result.write_text(json.dumps(result.to_json(), indent=1) + "\n")
    return result


class SavedNetworks(BaseModel):
    """The counts of a saved reproduction that its summary row reads."""

    runs: int
    used: int
    certified: int
    certified_only: bool


class SavedVerdict(BaseModel):
    """What the summary table reads of a reproduction's JSON (others fields are not read)."""

    verdict: str
    key: str
    seconds: float | None = None
    networks: SavedNetworks | None  # {} where the claim is computed without networks

    @field_validator("networks", mode="before")
    @classmethod
    def _computed(cls, value: object) -> object:
        return None if value == {} else value

    @classmethod
    def read(cls, path: Path) -> "SavedVerdict":
        """The file ``path``, or a ValueError naming it and its first problem."""
        try:
            return cls.model_validate_json(path.read_bytes())
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(map(str, first["loc"]))
            raise ValueError(
                f"{path}: not a verdict of benign reproduce ({where + ': ' if where else ''}"
                f"{first['msg']})"
            ) from None


def summary_table(directory: Path | str, quick: bool = False, first_seed: int = 0) -> str | None:
    """The verdicts of the reproductions whose JSON is in ``directory`` (the quick ones with
    ``quick``, those from seed K with ``first_seed`` K), in the order of :data:`CLAIMS`, as a
    Markdown table: verdict, key number, networks used, wall time. None where there is none; a
    ValueError naming a file that is not a reproduction's verdict."""
    rows = [
        "| claim | verdict | key number | networks used (certified share) | wall time |",
        "| --- | --- | --- | --- | --: |",
    ]
    for name in CLAIMS:
        path = Path(directory) / f"{file_stem(name, quick, first_seed)}.json"
        if not path.is_file():
            continue
        r = SavedVerdict.read(path)
        n = r.networks
        if n is None:
            used = "— (computed)"
        elif n.certified_only:
            share = f"{n.certified / n.runs:.0%}" if n.runs else "—"
            used = f"{n.used} of {n.runs} ({share} certified)"
        else:
            used = f"{n.used} of {n.runs} (interpolating; no KKT claim)"
        seconds = r.seconds or 0
        rows.append(f"| `{name}` | **{r.verdict}** | {r.key} | {used} | {seconds / 60:.1f} min |")
    return "\n".join(rows) + "\n" if len(rows) > 2 else None


def _rule_text(claim: Claim) -> str:
    """The rule's docstring, dedented."""
    import inspect

    return inspect.cleandoc(claim.rule.__doc__ or "")


def _versions() -> dict:
    return {
        pkg: importlib.metadata.version(pkg)
        for pkg in ("benign", "torch", "numpy", "scipy", "clarabel")
    }


def _write_report(p: Plan, result: Reproduction, computed: dict) -> None:
    """The claim's report: its verdict block, then the sweep's report (or, for a claim without
    networks, its figure and evidence alone)."""
    from benign import plots
    from benign.report import Figures, figure_dir, write_page, write_report

    figures = Figures(figure_dir(p.report))
    drawn = plots.claim_figure(p.claim.name, computed, result.evidence)
    figure = (
        figures.html(drawn[0], p.claim.figure, drawn[1])
        if drawn is not None
        else f'<p>Its figure: <a href="#{p.claim.figure}">{p.claim.figure}</a>, below.</p>'
    )
    block = _claim_html(result, figure)
    if p.store is not None:
        write_report(
            p.store, p.report, certified_only=p.claim.certified_only, preface=block, figures=figures
        )
    else:
        figures.write()
        write_page(p.report, f"benign reproduce {p.claim.name}", block)


def _claim_html(r: Reproduction, figure: str) -> str:
    """The verdict block: the claim, the verdict and why, the key number, who counted, the
    figure, the rule and the evidence."""
    n = r.networks
    who = (
        f"<p>Networks: {n['runs']} runs, {n['done']} done, {n['failed']} failed"
        + (f" ({html.escape(json.dumps(n['failures']))})" if n["failed"] else "")
        + f"; {n['certified']} certified KKT points. The verdict rests on {n['used']} networks"
        + (
            f" (certified only: {n['left_out_uncertified']} uncertified left out)."
            if n["certified_only"]
            else " (every interpolating network: the KKT certificate is not what this claim "
            "is about)."
        )
        + "</p>"
        if n
        else "<p>No networks: the evidence is computed directly.</p>"
    )
    colour = {"agrees": "benign", "disagrees": "catastrophic", "inconclusive": "undecided"}
    evidence = html.escape(json.dumps(json_ready(r.evidence), indent=1))
    return f"""<section id="claim">
<h2>Claim <code>{html.escape(r.name)}</code>{" (quick grid)" if r.quick else ""}</h2>
<p>{html.escape(r.paper)}: {html.escape(r.claim)}</p>
<p>Verdict: <span class="{colour[r.verdict]}">{r.verdict}</span> — {html.escape(r.reason)}.</p>
<p>Key number: {html.escape(r.key)}.</p>
{who}
{figure}
<details><summary>The verdict rule</summary><pre>{html.escape(r.rule)}</pre></details>
<details><summary>The evidence (JSON)</summary><pre>{evidence}</pre></details>
</section>"""
