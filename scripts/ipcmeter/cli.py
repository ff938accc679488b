"""The suite's rule for bad command lines, shared by every script."""

from __future__ import annotations

import argparse


class ArgumentParser(argparse.ArgumentParser):
    """argparse held to the suite's rule for bad input: one line on stderr, exit 2 (argparse
    itself prints the whole usage first). Sub-parsers made from it inherit the rule."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see --help)\n")
