"""Files written whole or not at all."""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path, exclusive: bool = False) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; when the block succeeds it becomes ``path``
    (with the permissions of a new file under the umask), else it is removed. ``exclusive``:
    never replace an existing ``path`` (FileExistsError) — two processes creating one file
    cannot both win."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        if exclusive:
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
