"""Atomic file output: a reader never sees a half-written file."""
import os
import tempfile

__all__ = ["write_text_atomic", "write_bytes_atomic"]


def write_bytes_atomic(path, data):
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_text_atomic(path, text):
    write_bytes_atomic(path, text.encode("utf-8"))
