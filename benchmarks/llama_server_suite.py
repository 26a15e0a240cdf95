"""llama.cpp's own server test suite, run against ``llama-server`` and ``quantdesk serve``.

llama.cpp ships pytest tests for its server (``tools/server/tests`` in the llama-cpp-python
sdist). Their ``utils.py`` starts the binary named by ``LLAMA_SERVER_BIN_PATH`` with
llama-server's arguments and downloads its models with ``--hf-repo/--hf-file``. This script
points that variable at one of two launchers it writes into a temporary folder:

* ``llama-server``: the real server, with the model arguments replaced by ``--model MODEL``;
* ``quantdesk``: ``quantdesk serve MODEL`` with the arguments it has an equivalent for
  (``--port``, ``--host``, ``--ctx-size``, ``--parallel``, ``--api-key``, ``--threads``,
  ``--n-gpu-layers``, ``--alias``); the rest are dropped.

Both run the same test files on the same model (a copy of the tests folder, so nothing is
written into it), and the script prints a Markdown table of passed/failed/skipped per file and
server, then the tests that pass on llama-server but not on quantdesk, each with the first
line of its failure. The tests' expected words come from llama.cpp's tiny story models, so
some fail on both servers with another model; those are counted but not listed.

The suite's own requirements (``requirements.txt`` next to the tests: pytest, requests,
openai, aiohttp, wget, ...) go into a separate virtual environment, given with ``--python``.

Run: ``python -m benchmarks.llama_server_suite TESTS_DIR MODEL.gguf --llama-server PATH
--python SUITE_VENV/bin/python [--files test_basic.py,...] [--only quantdesk|llama-server]
[--junit-dir DIR]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_FILES = (
    "test_basic.py",
    "test_chat_completion.py",
    "test_completion.py",
    "test_ctx_shift.py",
    "test_ignore_eos.py",
    "test_security.py",
    "test_tokenize.py",
)
SERVERS = ("llama-server", "quantdesk")
#: One server's run of the suite may not take longer than this.
SUITE_TIMEOUT_SECONDS = 3600

#: llama-server arguments that name the model (with their value), replaced by the given file.
_MODEL_ARGUMENTS = ("--hf-repo", "-hfr", "--hf-file", "-hff", "--model", "-m", "--model-url")

#: llama-server argument → quantdesk serve argument, for those that take a value.
_QUANTDESK_EQUIVALENTS = {
    "--port": "--port",
    "--host": "--host",
    "--ctx-size": "--ctx",
    "-c": "--ctx",
    "--parallel": "--parallel",
    "-np": "--parallel",
    "--api-key": "--api-key",
    "--threads": "--threads",
    "-t": "--threads",
    "--n-gpu-layers": "--gpu-layers",
    "-ngl": "--gpu-layers",
    "--alias": "--alias",
    "-a": "--alias",
}

#: The launchers' common part: split llama-server's argument list into options and values.
_LAUNCHER_HEAD = '''
import os
import sys

def options(argv):
    """(name, value or None) pairs; a value is the next word unless it is an option."""
    pairs, index = [], 0
    while index < len(argv):
        name = argv[index]
        value = None
        following = argv[index + 1] if index + 1 < len(argv) else "-"
        if not following.startswith("-") or following.lstrip("-").replace(".", "").isdigit():
            value = argv[index + 1]
            index += 1
        pairs.append((name, value))
        index += 1
    return pairs
'''

_LLAMA_SERVER_LAUNCHER = """
args = []
for name, value in options(sys.argv[1:]):
    if name in MODEL_ARGUMENTS:
        continue
    args.append(name)
    if value is not None:
        args.append(value)
os.execv(SERVER, [SERVER, "--model", MODEL, *args])
"""

_QUANTDESK_LAUNCHER = """
args = []
for name, value in options(sys.argv[1:]):
    if name in EQUIVALENTS and value is not None:
        args += [EQUIVALENTS[name], value]
os.chdir(REPO_ROOT)
os.execv(PYTHON, [PYTHON, "-m", "desktop.cli", "serve", MODEL, *args])
"""


def write_launcher(path: Path, constants: dict[str, object], body: str) -> Path:
    lines = [f"#!{sys.executable}"]
    lines += [f"{name} = {value!r}" for name, value in constants.items()]
    path.write_text("\n".join(lines) + _LAUNCHER_HEAD + body, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def write_launchers(folder: Path, model: Path, llama_server: Path) -> dict[str, Path]:
    return {
        "llama-server": write_launcher(
            folder / "llama-server-launcher",
            {
                "SERVER": str(llama_server),
                "MODEL": str(model),
                "MODEL_ARGUMENTS": _MODEL_ARGUMENTS,
            },
            _LLAMA_SERVER_LAUNCHER,
        ),
        "quantdesk": write_launcher(
            folder / "quantdesk-launcher",
            {
                "PYTHON": sys.executable,
                "REPO_ROOT": str(REPO_ROOT),
                "MODEL": str(model),
                "EQUIVALENTS": _QUANTDESK_EQUIVALENTS,
            },
            _QUANTDESK_LAUNCHER,
        ),
    }


@dataclass(slots=True)
class FileResult:
    passed: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)  # test → first line of the failure
    skipped: set[str] = field(default_factory=set)


def read_junit(path: Path) -> dict[str, FileResult]:
    """Test file name → its results, from one pytest run's JUnit XML."""
    results: dict[str, FileResult] = {}
    if not path.exists():
        return results
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        test_file = case.get("classname", "?").rsplit(".", 1)[-1] + ".py"
        result = results.setdefault(test_file, FileResult())
        name = case.get("name", "?")
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            message = (problem.get("message") or problem.text or "").strip()
            result.failed[name] = message.splitlines()[0][:160] if message else "failed"
        elif case.find("skipped") is not None:
            result.skipped.add(name)
        else:
            result.passed.add(name)
    return results


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_suite(
    python: str, tests: Path, files: list[str], launcher: Path, junit: Path, log: Path
) -> dict[str, FileResult]:
    """One pytest session over all ``files`` (the suite's session set-up starts every preset
    server once, so one session costs that only once)."""
    env = {
        **os.environ,
        "LLAMA_SERVER_BIN_PATH": str(launcher),
        "PORT": str(free_port()),
        "LLAMA_CACHE": str(tests / "tmp"),
    }
    command = [python, "-m", "pytest", *(f"unit/{name}" for name in files)]
    command += ["-p", "no:cacheprovider", f"--junitxml={junit}", "-q"]
    with log.open("w") as out:
        try:
            subprocess.run(
                command,
                cwd=tests,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=SUITE_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            out.write(f"\nThe suite ran past {SUITE_TIMEOUT_SECONDS} s\n")
    results = read_junit(junit)
    return {name: results.get(name, FileResult()) for name in files}


def markdown_report(files: list[str], results: dict[str, dict[str, FileResult]]) -> str:
    servers = [server for server in SERVERS if server in results]
    head = "| test file |" + "".join(f" {s} passed / failed / skipped |" for s in servers)
    lines = [head, "|---|" + "---|" * len(servers)]
    totals = {server: [0, 0, 0] for server in servers}
    for test_file in files:
        row = f"| {test_file} |"
        for server in servers:
            got = results[server][test_file]
            counts = (len(got.passed), len(got.failed), len(got.skipped))
            totals[server] = [a + b for a, b in zip(totals[server], counts, strict=True)]
            row += " {} / {} / {} |".format(*counts)
        lines.append(row)
    lines.append("| **all** |" + "".join(" **{} / {} / {}** |".format(*totals[s]) for s in servers))
    if set(servers) == set(SERVERS):
        lines += ["", "Pass on llama-server, fail on quantdesk serve:", ""]
        for test_file in files:
            ours = results["quantdesk"][test_file]
            for name in sorted(results["llama-server"][test_file].passed):
                if name in ours.failed:
                    lines.append(f"- `{test_file}::{name}`: {ours.failed[name]}")
                elif name in ours.skipped:
                    lines.append(f"- `{test_file}::{name}`: skipped")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tests", type=Path, help="llama.cpp's tools/server/tests folder")
    parser.add_argument("model", type=Path, metavar="MODEL.gguf")
    parser.add_argument("--llama-server", type=Path, required=True)
    parser.add_argument(
        "--python", default=sys.executable, help="Python with the suite's requirements"
    )
    parser.add_argument("--files", default=",".join(DEFAULT_FILES))
    parser.add_argument("--only", choices=SERVERS)
    parser.add_argument("--junit-dir", type=Path, help="keep the JUnit XML and logs here")
    args = parser.parse_args()
    files = [name.strip() for name in args.files.split(",") if name.strip()]
    servers = [args.only] if args.only else list(SERVERS)
    model = args.model.resolve()
    with tempfile.TemporaryDirectory(prefix="llama-server-suite-") as scratch:
        folder = Path(scratch)
        out = args.junit_dir.resolve() if args.junit_dir else folder / "junit"
        out.mkdir(parents=True, exist_ok=True)
        launchers = write_launchers(folder, model, args.llama_server.resolve())
        results: dict[str, dict[str, FileResult]] = {}
        for server in servers:
            tests = folder / f"tests-{server}"
            shutil.copytree(args.tests, tests, ignore=shutil.ignore_patterns("tmp", "__pycache__"))
            results[server] = got = run_suite(
                args.python,
                tests,
                files,
                launchers[server],
                out / f"{server}.xml",
                out / f"{server}.log",
            )
            for test_file, counts in got.items():
                print(
                    f"{server} {test_file}: {len(counts.passed)} passed, "
                    f"{len(counts.failed)} failed, {len(counts.skipped)} skipped",
                    file=sys.stderr,
                    flush=True,
                )
        print(markdown_report(files, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
