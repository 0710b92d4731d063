"""The call that resumes a sweep started from Python (a2bench.sweep), as store.resume_line says
it for a run started from the CLI.
"""

from __future__ import annotations


def python_call(suite: str, out: str, flags: list[str]) -> str:
    """The a2bench.sweep call that resumes a sweep started from Python, its flags as keywords:
    the CLI's line had named a suite file a dict never had ('<dict>'), and a block registered in
    the notebook that no A2BENCH_PLUGINS names."""
    words = [suite if suite != "<dict>" else "SUITE", out]
    i = 0
    while i < len(flags):
        name = flags[i].removeprefix("--").replace("-", "_")
        if i + 1 < len(flags) and not flags[i + 1].startswith("--"):
            value = flags[i + 1]
            try:
                float(value)
            except ValueError:
                value = repr(value)
            words.append(f"{name}={value}")
            i += 2
        else:  # a switch: --warm-cache, --no-interleave
            words.append(f"{name[3:]}=False" if name.startswith("no_") else f"{name}=True")
            i += 1
    args = [repr(words[0]) if suite != "<dict>" else words[0], repr(words[1]), "resume=True",
            *words[2:]]
    return (f"a2bench.sweep({', '.join(args)})"
            + (" with SUITE the dict it began with" if suite == "<dict>" else ""))
