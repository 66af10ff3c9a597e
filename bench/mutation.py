"""Mutation testing of the pure modules and the samplers with mutmut (slow: not part of CI).

    nice -n 5 python bench/mutation.py                 # all targets below
    nice -n 5 python bench/mutation.py tasks config    # some of them
    nice -n 5 python bench/mutation.py tasks --sample 150 --seed 1  # 150 of its mutants, at random

mutmut plants one small bug at a time (an operator, a comparison, a constant, a removed call...)
and runs the tests that reach the mutated function; a mutant that no test notices "survived".
The run happens in a throw-away copy of the repository (mutmut writes a `mutants/` folder and
reads its settings from setup.cfg there), so the working tree and pyproject.toml stay untouched.

Each target is the files to mutate, the functions of them to mutate (mutmut's mutant-name globs)
and the fast tests that cover them. The decoding helpers are the pure functions of decoding.py,
generation.py and engine.py; their threads and model plumbing are covered by the engine tests,
too slow to run per mutant.
It prints the score (killed / mutants with tests) and every survivor with its diff.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HELPERS = {  # module: the decoding helpers in it
    "decoding": ("trim_left",),
    "generation": ("build_generation_config", "static_cache_length"),
    "engine": ("_prefill_groups",),
}
TARGETS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    # name: (files to mutate (globs), mutant-name globs, tests)
    "config": (
        ("nlg_assistant/config.py",),
        ("nlg_assistant.config.*",),
        ("tests/test_config.py", "tests/test_documented_limits.py", "tests/test_auth.py"),
    ),
    "sampling": (("nlg_assistant/sampling.py",), ("nlg_assistant.sampling.*",), ("tests/test_sampling.py",)),
    "prompts": (
        ("nlg_assistant/prompts/*",),  # common, story, article, fewshot (__init__ only re-exports)
        ("nlg_assistant.prompts.*",),
        ("tests/test_prompts.py",),  # pure: the tasks' tests on a tiny model cost ~10x per mutant
    ),
    "tasks": (
        ("nlg_assistant/tasks/*",),  # the registry, progress, story, article, fewshot, alternatives
        ("nlg_assistant.tasks.*",),
        ("tests/test_tasks.py", "tests/test_tasks_alternatives.py"),
    ),
    "helpers": (
        tuple(f"nlg_assistant/{m}.py" for m in HELPERS),
        tuple(f"nlg_assistant.{m}.x_{f}__mutmut_*" for m, names in HELPERS.items() for f in names),
        (
            "tests/test_generation.py::test_generation_config_is_explicit",
            "tests/test_generation.py::test_static_cache_length_is_a_power_of_two_within_the_window",
            "tests/test_engine.py::test_prefill_groups_keep_order_and_bound_padded_tokens",
            "tests/test_sampling.py::test_simple_engine_processors_equal_transformers",
            "tests/test_sampling.py::test_simple_engine_config_leaves_no_model_default_in",
            "tests/test_trimming.py",
        ),
    ),
}
# Imported once by mutmut's fork server, before it forks a process per mutant: the tests that
# build tiny models would otherwise import torch and transformers again for every mutant (~10 s
# each on the shared cores). Third-party modules only: the package itself must be imported by
# each mutant's process from mutmut's mutated copy.
PRELOAD_FILE = "mutation-preload.txt"
TIMEOUT_CONSTANT_S = 8
PRELOAD = ("torch", "transformers", "transformers.models.llama.modeling_llama", "tokenizers", "safetensors")
# Each mutant's pytest run, made cheap (3 CPU s -> 0.2 s for a one-line test): with torch in memory,
# pytest's unraisable-exception plugin spends ~2 s in gc.collect, and rewriting asserts (plugins'
# modules too) ~1 s; a failing plain assert still kills the mutant, and the selected tests use
# none of these plugins.
PLUGINS_OFF = ("cacheprovider", "unraisableexception", "hypothesispytest", "anyio", "benchmark")
PYTEST_ARGS = ("-q", "--assert=plain", *(f"-pno:{plugin}" for plugin in PLUGINS_OFF))


def setup_cfg(target: str) -> str:
    """mutmut's settings: which files to mutate and which tests to run (fork server: torch is loaded)."""
    files, _, tests = TARGETS[target]
    lines = ["[mutmut]", "source_paths=nlg_assistant", "process_isolation=forkserver"]
    lines += ["forkserver_warmup=import", f"preload_modules_file={PRELOAD_FILE}"]
    # mutmut stops a mutant's tests after 15 x (their measured time + this) seconds of wall time: at
    # its default (1 s) a one-line test on the busy shared cores "timed out" while only waiting for CPU
    lines += [f"timeout_constant={TIMEOUT_CONSTANT_S}"]
    lines += ["only_mutate=", *(f"    {f}" for f in files)]
    lines += ["pytest_add_cli_args_test_selection=", *(f"    {t}" for t in tests)]
    lines += ["pytest_add_cli_args=", *(f"    {arg}" for arg in PYTEST_ARGS)]
    return "\n".join(lines) + "\n"


def copy_repo(into: Path) -> None:
    """The package and the tests, without caches or outputs."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    shutil.copytree(REPO / "nlg_assistant", into / "nlg_assistant", ignore=ignore)
    shutil.copytree(REPO / "tests", into / "tests", ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", into / "pyproject.toml")


MUTMUT = [sys.executable, "-c", "import sys; from mutmut.__main__ import cli; sys.exit(cli())"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def run_mutmut(work: Path, globs: list[str], children: int, sample: int = 0, seed: int = 0) -> str:
    """`mutmut run` then `mutmut results --all`; returns the results listing.

    With `sample`, only that many mutants drawn at random (with `seed`) from those matching `globs`
    run; the rest stay "not checked" and count in no score.
    """
    names = globs
    if sample:
        # a name matching nothing: mutmut makes the mutants and the tests' statistics, runs none
        _mutmut(work, "run", "--max-children", str(children), "nlg_assistant.no_such_mutant", quiet=True)
        listing = _mutmut(work, "results", "--all", "true", quiet=True)
        found = [name for name, _ in _listed(listing, globs)]
        names = sorted(random.Random(seed).sample(found, min(sample, len(found))))
        print(f"{len(names)} of {len(found)} mutants drawn (seed {seed})", flush=True)
    _mutmut(work, "run", "--max-children", str(children), *names)
    return _mutmut(work, "results", "--all", "true", quiet=True)


def _mutmut(work: Path, *args: str, quiet: bool = False) -> str:
    """Run one mutmut command in `work`; its output is returned when `quiet`, else shown."""
    done = subprocess.run([*MUTMUT, *args], cwd=work, env=ENV, capture_output=quiet, text=True, check=False)
    return done.stdout or ""


def _listed(listing: str, globs: list[str]) -> list[tuple[str, str]]:
    """(mutant, status) of the mutants matching `globs` in a `mutmut results` listing."""
    found = re.findall(r"^\s+(\S+): (\w[\w ]*)$", listing, flags=re.M)
    return [(name, status) for name, status in found if any(fnmatch.fnmatch(name, g) for g in globs)]


def diff_of(work: Path, name: str) -> str:
    lines = _mutmut(work, "show", name, quiet=True).splitlines()
    return "\n".join(line for line in lines if line.startswith(("+ ", "- ", "+    ", "-    ")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", choices=list(TARGETS), help="default: all")
    parser.add_argument("--children", type=int, default=1, help="parallel test processes (2 shared cores)")
    parser.add_argument("--keep", action="store_true", help="keep the work folders and print their paths")
    parser.add_argument("--sample", type=int, default=0, help="run N mutants per target, drawn at random")
    parser.add_argument("--seed", type=int, default=0, help="the draw's seed (with --sample)")
    args = parser.parse_args()
    results: list[tuple[str, str, str]] = []  # (mutant, status, diff)
    for target in args.targets or list(TARGETS):
        # one mutmut run per target, so each module's mutants run only that target's tests
        work = Path(tempfile.mkdtemp(prefix=f"nlg-mutation-{target}-"))
        copy_repo(work)
        (work / "setup.cfg").write_text(setup_cfg(target))
        (work / PRELOAD_FILE).write_text("\n".join(PRELOAD) + "\n")
        globs = list(TARGETS[target][1])
        listing = run_mutmut(work, globs, args.children, args.sample, args.seed)
        results += outcomes(work, listing, globs)
        if args.keep:
            print(f"{target}: work folder {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    report(results)


def outcomes(work: Path, listing: str, globs: list[str]) -> list[tuple[str, str, str]]:
    """(mutant, status, diff for survivors) of the mutants matching `globs` in a results listing."""
    return [
        (name, status, diff_of(work, name) if status in ("survived", "suspicious") else "")
        for name, status in _listed(listing, globs)
    ]


def report(results: list[tuple[str, str, str]]) -> None:
    """Score per module and overall; every surviving mutant with its diff."""
    by_module: dict[str, dict[str, int]] = {}
    for name, status, _ in results:
        counts = by_module.setdefault(name.split(".x")[0], {})
        counts[status] = counts.get(status, 0) + 1
    print()
    for module, counts in sorted(by_module.items()):
        print(f"{module}: {dict(sorted(counts.items()))}")
    killed = sum(1 for _, s, _ in results if s in ("killed", "timeout"))
    tested = sum(1 for _, s, _ in results if s not in ("no tests", "skipped", "not checked"))
    print(f"\nkilled {killed} of {tested} mutants with tests: {100 * killed / max(tested, 1):.1f}%")
    untested = [n for n, s, _ in results if s == "no tests"]
    if untested:
        print(f"{len(untested)} mutants reach no selected test: {', '.join(untested)}")
    for name, status, diff in results:
        if status in ("survived", "suspicious"):
            print(f"\n{status}: {name}\n{diff}")


if __name__ == "__main__":
    main()
