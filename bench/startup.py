"""What a command costs to start: `--version`, `status`, `check-config` against a bare
`python3 -c pass`, as whole processes (median of `--runs`), and which modules each
imports (python -X importtime), heaviest first.

    .venv/bin/python bench/startup.py [--runs 20]

Target (issue 10): each at most 1.5 times the bare interpreter.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """\
backend: {url: "https://api.igny8.example/api"}
state_dir: STATE
sites:
  - {name: blog, site_id: 5, api_key: "bench-key-0123456789",
     wordpress: {url: "https://blog.example.com"}}
"""


def timed(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def heaviest_imports(command: list[str], count: int = 6) -> list[tuple[int, str]]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *command[1:]],
        capture_output=True,
        text=True,
        check=False,
    )
    rows = []
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.split("|")
            if cumulative.strip().isdigit() and not name.startswith("    "):
                rows.append((int(cumulative), name.strip()))
    top = [row for row in rows if not row[1].startswith(" ")]
    return sorted(top, reverse=True)[:count]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if shutil.which("igny8-agent") is None:
        print("run with .venv/bin/python after scripts/install-deps", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="igny8-startup-") as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text(CONFIG.replace("STATE", str(Path(tmp) / "state")))
        config.chmod(0o600)
        python = [sys.executable]
        bare = timed([*python, "-c", "pass"], args.runs)
        print(f"python -c pass (this interpreter): {bare * 1000:.0f} ms (median of {args.runs})")
        shim = shutil.which("python3", path=os.environ.get("ORIGINAL_PATH"))
        if shim and Path(shim).resolve() != Path(sys.executable).resolve():
            print(
                f"python3 -c pass ({shim}): {timed([shim, '-c', 'pass'], args.runs) * 1000:.0f} ms"
            )
        script = shutil.which("igny8-agent") or "igny8-agent"
        for name, extra in (
            ("--version", ["--version"]),
            ("status", ["--config", str(config), "status"]),
            ("check-config", ["--config", str(config), "check-config"]),
        ):
            command = [*python, script, *extra]  # the installed command, as users run it
            seconds = timed(command, args.runs)
            imports = ", ".join(f"{n} {t / 1000:.0f} ms" for t, n in heaviest_imports(command))
            print(
                f"igny8-agent {name}: {seconds * 1000:.0f} ms = {seconds / bare:.2f}x bare "
                f"python; heaviest imports: {imports}"
            )
    return 0


if __name__ == "__main__":
    os.environ.pop("IGNY8_AGENT_CONFIG", None)
    os.environ.setdefault("ORIGINAL_PATH", os.environ.get("PATH", ""))
    sys.exit(main())
