"""Refuse pattern dictionaries that would not fit in memory, before building them."""
__all__ = ["DictionaryTooLarge", "available_memory", "dictionary_bytes",
           "check_dictionary_memory"]

_SAMPLE_CHUNK = 4096        # ArrangementSampler computes patterns in float64 column chunks
_FAST_CACHE = 2 ** 28       # _fast keeps a float64 copy of H up to this size
_FAST_CHUNK = 2 ** 25


class DictionaryTooLarge(MemoryError, ValueError):
    """The dictionary (plus solver caches) needs more memory than is available. A ValueError
    too, so command-line front ends print it as one line."""


def available_memory():
    """``MemAvailable`` from /proc/meminfo in bytes, or None when it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def dictionary_bytes(n, P, solver="auto"):
    """Estimated peak bytes for an ``n x P`` 0/1 dictionary and the solve: the bool matrix
    (``n P``), its packed dedup keys (``n P / 8``), the sampler's float64 chunk, and the solver's
    float64 copies (fast: a cache of at most 256 MiB plus a chunk; cvxpy: about three dense
    float64 copies of ``H``)."""
    n, P = int(n), int(P)
    b = n * P + n * P // 8 + 2 * 8 * n * min(P, _SAMPLE_CHUNK)
    if solver == "cvxpy":
        b += 3 * 8 * n * P
    elif solver is not None:
        b += min(8 * n * P, _FAST_CACHE) + _FAST_CHUNK
    return b


def check_dictionary_memory(n, P, solver="auto", available=None):
    """Raise :class:`DictionaryTooLarge` (with the estimate) if the dictionary would exceed the
    available memory (``available`` bytes, default: /proc/meminfo; unknown means no check)."""
    need = dictionary_bytes(n, P, solver)
    have = available_memory() if available is None else available
    if have is not None and need > have:
        raise DictionaryTooLarge(
            f"a {n} x {P} pattern dictionary needs about {need / 2 ** 30:.2f} GiB "
            f"({n} x {P} bytes for the 0/1 matrix plus solver caches) but only "
            f"{have / 2 ** 30:.2f} GiB are available; lower --n-arrangements or subsample")
    return need
