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
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:  # named by the file asked for, not the temporary one
        raise OSError(exc.errno, exc.strerror, str(path)) from None
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
    except OSError as exc:  # named by the file asked for (a failed write names no file)
        Path(tmp).unlink(missing_ok=True)
        if exc.filename not in (None, tmp) or not exc.strerror:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
