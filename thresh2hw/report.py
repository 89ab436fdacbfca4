"""Build records (``build.json``) and their Markdown rendering (``hdl_templates/report.md.j2``)."""
import json
import os

__all__ = ["FORMAT_NAME", "ReportError", "load_record", "render_markdown", "derive_timing"]

FORMAT_NAME = "thresh2hw-build"


class ReportError(ValueError):
    pass


def derive_timing(rec):
    """Fill latency in ns and throughputs from Fmax, latency and initiation interval."""
    fmax = rec.get("fmax_mhz")
    lat = rec.get("latency_cycles")
    ii = rec.get("initiation_interval", 1) or 1
    rec["latency_ns"] = round(lat * 1e3 / fmax, 2) if fmax and lat is not None else None
    rec["throughput_per_s"] = round(fmax * 1e6 / ii) if fmax else None
    clk = rec.get("board_clock_mhz")
    rec["throughput_at_board_clock_per_s"] = round(clk * 1e6 / ii) if clk else None
    rec["latency_ns_at_board_clock"] = round(lat * 1e3 / clk, 2) if clk and lat is not None \
        else None
    return rec


def load_record(path):
    """Read ``build.json`` from a file or a build directory."""
    if os.path.isdir(path):
        path = os.path.join(path, "build.json")
    try:
        with open(path) as f:
            rec = json.load(f)
    except OSError as exc:
        raise ReportError(f"cannot read {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ReportError(f"{path} is not valid JSON") from None
    if not isinstance(rec, dict) or rec.get("format") != FORMAT_NAME:
        raise ReportError(f"{path} is not a thresh2hw build record (format {FORMAT_NAME!r})")
    return rec


def render_markdown(rec):
    import jinja2

    from . import hdl_templates
    loader = jinja2.FileSystemLoader(os.path.dirname(hdl_templates.__file__))
    env = jinja2.Environment(loader=loader,
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["num"] = _num
    return env.get_template("report.md.j2").render(r=_Defaults(rec))


def _num(v, digits=0, unit=""):
    """``v`` formatted for the report, with ``unit`` appended; ``n/a`` (no unit) when unknown."""
    if v is None:
        return "n/a"
    return _fmt(v, digits) + unit


def _fmt(v, digits):
    if isinstance(v, float) and digits:
        return f"{v:,.{digits}f}"
    if isinstance(v, (int, float)):
        return f"{v:,.0f}" if abs(v) >= 1000 else (f"{v:g}" if isinstance(v, float) else str(v))
    return str(v)


class _Defaults(dict):
    """Template view: missing keys read as None instead of failing."""

    def __getattr__(self, k):
        v = self.get(k)
        return _Defaults(v) if isinstance(v, dict) else v

    def __getitem__(self, k):
        return self.__getattr__(k)
