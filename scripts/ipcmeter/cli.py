"""The suite's rule for bad command lines, shared by every script."""

from __future__ import annotations

import argparse


class ArgumentParser(argparse.ArgumentParser):
    """argparse held to the suite's rule for bad input: one line on stderr, exit 2 (argparse
    itself prints the whole usage first). Sub-parsers made from it inherit the rule."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


IPCMETER_BIN_HELP = ("the ipcmeter binary whose --describe describes results files written "
                     "before they carried ipcmeter.schema (default: $IPCMETER_BIN, else "
                     "build/ipcmeter of this repository; without either, the scripts' "
                     "pre-schema table)")


def add_ipcmeter_bin(parser) -> None:
    parser.add_argument("--ipcmeter-bin", metavar="BIN", help=IPCMETER_BIN_HELP)
