#!/usr/bin/env python3
"""Run psyco's benchmark suite (bench/programs) plain and under full()/profile()/background().

    python bench/run.py                    # all programs, all modes, 5 runs + 1 warm-up
    python bench/run.py --quick            # scale 0.2, 3 runs
    python bench/run.py --programs nbody,raytrace --modes full --runs 9

The same as `python -m psyco bench`; see bench/README.md and `--help`.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

try:
    from psyco import benchrun
except ImportError:  # running from a source tree where psyco is not installed
    sys.path.insert(0, os.path.join(HERE, "..", "python"))
    from psyco import benchrun


if __name__ == "__main__":
    argv = sys.argv[1:]
    if not any(a == "--dir" or a.startswith("--dir=") for a in argv):
        argv = ["--dir", os.path.join(HERE, "programs")] + argv
    sys.exit(benchrun.main(argv))
