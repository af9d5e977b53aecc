"""The public API: docs/api.md runs as a doctest, and `benign.__all__` is what it documents."""

import doctest
from pathlib import Path

import benign

DOC = Path(__file__).parents[1] / "docs" / "api.md"


def test_api_doc_examples_run():
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testfile(str(DOC), module_relative=False, optionflags=flags)
    assert result.attempted > 40 and result.failed == 0


def test_every_public_name_exists_and_is_documented():
    text = DOC.read_text()
    for name in benign.__all__:
        assert hasattr(benign, name), name
        if name != "__version__" and not name[0].isupper():
            assert f"benign.{name}(" in text or f"`{name}`" in text, name
