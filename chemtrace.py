"""`python -m chemtrace`: the same as the `chemtrace` command.

The command's code is the package `scenarios.cli` (the console script in pyproject.toml points
at `scenarios.cli:main`); there is no `chemtrace` package, so `-m chemtrace` needs this one
module, which only hands over to it."""

import sys

from scenarios.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
