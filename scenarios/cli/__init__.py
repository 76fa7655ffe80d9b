"""The `chemtrace` command line: one module per command group, argument types and exit codes in
one place (`scenarios.cli.args`). `main` is the console script's entry point."""

from scenarios.cli.main import main

__all__ = ["main"]
