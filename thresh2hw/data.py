"""Loading user data (CSV, .npz) and the bundled default datasets, with clear errors."""
import csv
import io
import itertools
import os

import numpy as np

__all__ = ["DataError", "load_dataset", "load_builtin", "BUILTIN", "check_features"]

BUILTIN = ("digits", "breast_cancer")


class DataError(ValueError):
    """User data is missing, malformed or unusable; the message names the problem."""


def check_features(X, what="features"):
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"{what} must be a non-empty 2-D table, got shape {X.shape}")
    try:
        X = X.astype(np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{what} must be numeric") from None
    bad = ~np.isfinite(X)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        kind = "NaN" if np.isnan(X[r, c]) else "infinite"
        raise DataError(f"{what} contain {kind} values (first in row {r + 1} of the array, "
                        f"column {c + 1})")
    return X


def load_builtin(name):
    from sklearn import datasets
    if name == "digits":
        X, y = datasets.load_digits(return_X_y=True)
    elif name == "breast_cancer":
        X, y = datasets.load_breast_cancer(return_X_y=True)
    else:
        raise DataError(f"unknown built-in dataset {name!r} (choose from {', '.join(BUILTIN)})")
    return X.astype(np.float64), y


def _parse_label(header, label, n_cols):
    if label is None:
        return n_cols - 1
    if header is not None and label in header:
        return header.index(label)
    try:
        k = int(label)
    except ValueError:
        raise DataError(f"label column {label!r} not found in the CSV header") from None
    if not -n_cols <= k < n_cols:
        raise DataError(f"label column index {k} out of range for {n_cols} columns")
    return k % n_cols


DELIMITERS = (",", ";", "\t")


def _rows(text, delimiter):
    """``(line, row)`` for each non-blank row; ``line`` is the 1-based file line the row starts
    on (blank lines and quoted line breaks counted), the number every CSV error names."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    end = 0                                     # last line of the previous record
    for r in reader:
        line, end = end + 1, reader.line_num
        if r and any(c.strip() for c in r):
            yield line, r


def _detect_delimiter(text, sample=20):
    """The delimiter of ``DELIMITERS`` that splits the first row, preferring one that gives the
    same number of fields on each of the first ``sample`` rows, then the most fields (ties:
    the earlier one). Rows are csv-parsed, so quoted fields may hold any delimiter; "," when
    none splits the first row (a single column). Not csv.Sniffer: it raises on a single
    column and may choose any character."""
    best, key = ",", (False, 1)
    for d in DELIMITERS:
        try:
            counts = [len(r) for _, r in itertools.islice(_rows(text, d), sample)]
        except csv.Error:
            continue
        k = (len(set(counts)) == 1, counts[0]) if counts else (False, 0)
        if k[1] > 1 and k > key:
            best, key = d, k
    return best


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def _is_header(rows):
    """Row 0 is a header when it has a non-numeric field in a column whose next row is numeric
    (a text label column is non-numeric in every row, so a headerless file with text labels
    keeps its first row); a file of one row is a header when any field is non-numeric."""
    first = [_is_number(c) for c in rows[0]]
    if len(rows) == 1:
        return not all(first)
    nxt = rows[1]
    return any(not f and (k >= len(nxt) or _is_number(nxt[k])) for k, f in enumerate(first))


def _load_csv(path, label, has_label):
    try:
        with open(path, newline="") as f:
            text = f.read()
        numbered = list(_rows(text, _detect_delimiter(text)))
    except UnicodeDecodeError:
        raise DataError(f"{path} is not a text CSV file") from None
    except csv.Error as exc:
        raise DataError(f"{path}: malformed CSV ({exc})") from None
    if not numbered:
        raise DataError(f"{path} is empty")
    lines, rows = map(list, zip(*numbered))
    header = None
    if _is_header(rows):
        header = [c.strip() for c in rows[0]]
        lines, rows = lines[1:], rows[1:]
    if not rows:
        raise DataError(f"{path} has a header but no data rows")
    n_cols = len(header) if header else len(rows[0])
    for line, r in zip(lines, rows):
        if len(r) != n_cols:
            raise DataError(f"{path}: line {line} has {len(r)} fields, expected {n_cols}")
    k = _parse_label(header, label, n_cols) if has_label else None
    feat_cols = [c for c in range(n_cols) if c != k]
    if not feat_cols:
        raise DataError(f"{path} has no feature columns besides the label")
    X = np.empty((len(rows), len(feat_cols)))
    for i, (line, r) in enumerate(zip(lines, rows)):
        for j, c in enumerate(feat_cols):
            try:
                X[i, j] = v = float(r[c])
            except ValueError:
                raise DataError(f"{path}: line {line}, column {c + 1}: {r[c]!r} is not a "
                                f"number") from None
            if not np.isfinite(v):              # here, where the file line is known
                kind = "NaN" if np.isnan(v) else "infinite"
                raise DataError(f"{path}: line {line}, column {c + 1}: features contain {kind} "
                                f"values ({r[c].strip()!r})")
    y = None
    if k is not None:
        y = np.asarray([r[k].strip() for r in rows], dtype=object)
        try:
            yf = y.astype(np.float64)
        except ValueError:
            y = y.astype(str)
        else:
            if not np.all(np.isfinite(yf)):     # before the int cast, which would garble inf
                line = lines[int(np.argmin(np.isfinite(yf)))]
                raise DataError(f"{path}: line {line}, column {k + 1}: labels contain NaN or "
                                f"infinite values")
            y = yf.astype(np.int64) if np.all(yf == np.round(yf)) else yf
    return X, y


def _load_npz(path, has_label):
    try:
        with np.load(path, allow_pickle=False) as z:
            if "X" not in z:
                raise DataError(f"{path} has no array named 'X'")
            X = z["X"]
            y = z["y"] if "y" in z else None
    except DataError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path} is not a readable .npz file ({exc})") from None
    if has_label and y is None:
        raise DataError(f"{path} has no array named 'y'")
    if y is not None and (np.asarray(y).ndim != 1 or len(y) != len(X)):
        raise DataError(f"{path}: 'y' must be 1-D with one entry per row of 'X'")
    return X, y


def load_dataset(path, *, label=None, has_label=True):
    """Load ``(X, y)`` from a CSV (label column by name or index, default last) or an ``.npz``
    with arrays ``X`` and ``y``; the name of a built-in dataset also works. ``y`` is None when
    ``has_label`` is False."""
    if path in BUILTIN and not os.path.exists(path):
        X, y = load_builtin(path)
        return X, (y if has_label else None)
    if not os.path.isfile(path):
        raise DataError(f"data file {path} does not exist")
    if path.endswith(".npz"):
        X, y = _load_npz(path, has_label)
    else:
        X, y = _load_csv(path, label, has_label)
    X = check_features(X)
    if has_label:
        if y is None or len(y) == 0:
            raise DataError(f"{path} has no labels")
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise DataError(f"{path}: labels contain NaN or infinite values")
    return X, (y if has_label else None)
