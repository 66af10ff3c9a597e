"""Mutation testing of the pure modules and the samplers with mutmut (slow: not part of CI).

    nice -n 5 python bench/mutation.py                 # all targets below
    nice -n 5 python bench/mutation.py sampling config # some of them

mutmut plants one small bug at a time (an operator, a comparison, a constant, a removed call...)
and runs the tests that reach the mutated function; a mutant that no test notices "survived".
The run happens in a throw-away copy of the repository (mutmut writes a `mutants/` folder and
reads its settings from setup.cfg there), so the working tree and pyproject.toml stay untouched.

Each target is a module, the functions of it to mutate (mutmut's mutant-name globs) and the fast
tests that cover them. The decoding helpers are the pure functions of generation.py and engine.py;
their threads and model plumbing are covered by the engine tests, too slow to run per mutant.
It prints the score (killed / mutants with tests) and every survivor with its diff.
"""

from __future__ import annotations

import argparse
import os
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
TARGETS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    # name: (module file, mutant-name globs, tests)
    "config": (
        "nlg_assistant/config.py",
        ("nlg_assistant.config.*",),
        ("tests/test_config.py", "tests/test_limits.py"),
    ),
    "sampling": ("nlg_assistant/sampling.py", ("nlg_assistant.sampling.*",), ("tests/test_sampling.py",)),
    "prompts": (
        "nlg_assistant/prompts/common.py",
        ("nlg_assistant.prompts.*",),
        ("tests/test_prompts.py", "tests/test_tasks.py"),
    ),
    "helpers": (
        "nlg_assistant/generation.py",
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
EXTRA_FILES = {
    "helpers": ("nlg_assistant/engine.py", "nlg_assistant/decoding.py"),
    "prompts": tuple(f"nlg_assistant/prompts/{m}.py" for m in ("story", "article", "fewshot")),
}


def setup_cfg(targets: list[str]) -> str:
    """mutmut's settings: which files to mutate and which tests to run (fork server: torch is loaded)."""
    files = [TARGETS[t][0] for t in targets] + [f for t in targets for f in EXTRA_FILES.get(t, ())]
    tests = [test for t in targets for test in TARGETS[t][2]]
    lines = ["[mutmut]", "source_paths=nlg_assistant", "process_isolation=forkserver"]
    lines += ["only_mutate=", *(f"    {f}" for f in files)]
    lines += ["pytest_add_cli_args_test_selection=", *(f"    {t}" for t in tests)]
    lines += ["pytest_add_cli_args=", "    -p", "    no:cacheprovider", "    -q"]
    return "\n".join(lines) + "\n"


def copy_repo(into: Path) -> None:
    """The package and the tests, without caches or outputs."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    shutil.copytree(REPO / "nlg_assistant", into / "nlg_assistant", ignore=ignore)
    shutil.copytree(REPO / "tests", into / "tests", ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", into / "pyproject.toml")


def run_mutmut(work: Path, globs: list[str], children: int) -> str:
    """`mutmut run` then `mutmut results --all`; returns the results listing."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    mutmut = [sys.executable, "-c", "import sys; from mutmut.__main__ import cli; sys.exit(cli())"]
    subprocess.run([*mutmut, "run", "--max-children", str(children), *globs], cwd=work, env=env, check=False)
    done = subprocess.run(
        [*mutmut, "results", "--all", "true"], cwd=work, env=env, capture_output=True, text=True
    )
    return done.stdout


def diff_of(work: Path, name: str) -> str:
    mutmut = [sys.executable, "-c", "import sys; from mutmut.__main__ import cli; sys.exit(cli())"]
    done = subprocess.run([*mutmut, "show", name], cwd=work, capture_output=True, text=True)
    return "\n".join(
        line for line in done.stdout.splitlines() if line.startswith(("+ ", "- ", "+    ", "-    "))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", choices=list(TARGETS), help="default: all")
    parser.add_argument("--children", type=int, default=1, help="parallel test processes (2 shared cores)")
    parser.add_argument("--keep", action="store_true", help="keep the work folders and print their paths")
    args = parser.parse_args()
    results: list[tuple[str, str, str]] = []  # (mutant, status, diff)
    for target in args.targets or list(TARGETS):
        # one mutmut run per target, so each module's mutants run only that target's tests
        work = Path(tempfile.mkdtemp(prefix=f"nlg-mutation-{target}-"))
        copy_repo(work)
        (work / "setup.cfg").write_text(setup_cfg([target]))
        globs = list(TARGETS[target][1])
        results += outcomes(work, run_mutmut(work, globs, args.children), globs)
        if args.keep:
            print(f"{target}: work folder {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    report(results)


def outcomes(work: Path, listing: str, globs: list[str]) -> list[tuple[str, str, str]]:
    """(mutant, status, diff for survivors) of the mutants matching `globs` in a results listing."""
    import fnmatch

    found = re.findall(r"^\s+(\S+): (\w[\w ]*)$", listing, flags=re.M)
    return [
        (name, status, diff_of(work, name) if status in ("survived", "suspicious") else "")
        for name, status in found
        if any(fnmatch.fnmatch(name, g) for g in globs)
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
