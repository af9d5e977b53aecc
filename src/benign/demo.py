"""The main job: a preset sweep file copied into a directory, with its store and report there."""

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

PRESETS: tuple[str, ...] = ("default", "lazy", "quick")


@dataclass(frozen=True)
class Demo:
    """Where a preset's sweep file, store and report go, and whom the verdicts judge."""

    sweep_file: Path
    store: Path
    report: Path
    all_networks: bool  # verdicts over every interpolating network, not only certified ones


def prepare_demo(preset: str, directory: Path) -> Demo:
    """Copy the sweep file of a preset (one of :data:`PRESETS`) to DIRECTORY/PRESET.toml,
    making DIRECTORY; the store is DIRECTORY/PRESET.sqlite and the report DIRECTORY/report.html."""
    text = (resources.files("benign") / "presets" / f"{preset}.toml").read_text()
    directory.mkdir(parents=True, exist_ok=True)
    sweep_file = directory / f"{preset}.toml"
    sweep_file.write_text(text)
    return Demo(
        sweep_file=sweep_file,
        store=directory / f"{preset}.sqlite",
        report=directory / "report.html",
        # the KKT certificate does not apply to the lazy preset's centred nets: judge them all
        all_networks=preset == "lazy",
    )
