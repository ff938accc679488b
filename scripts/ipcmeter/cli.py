"""The suite's rule for bad command lines, shared by every script."""

from __future__ import annotations

import argparse
import sys


def one_line(text) -> str:
    """text as one line: every character a terminal or str.splitlines() would break a line
    at (or would not show), e.g. a newline in a file name or in a benchmark's error message,
    is written as its escape (\\n, \\u2028). For the one line a command prints on error."""
    return "".join(ch if ch.isprintable() or ch == "\t"
                   else ch.encode("unicode_escape").decode("ascii") for ch in str(text))


def refuse(prog: str, message) -> None:
    """Print the one line of a refusal: "PROG: message" on stderr."""
    print(one_line("%s: %s" % (prog, message)), file=sys.stderr)


class ArgumentParser(argparse.ArgumentParser):
    """argparse held to the suite's rule for bad input: one line on stderr, exit 2 (argparse
    itself prints the whole usage first). Sub-parsers made from it inherit the rule."""

    def error(self, message):
        self.exit(2, one_line(f"{self.prog}: {message} (see --help)") + "\n")


IPCMETER_BIN_HELP = ("the ipcmeter binary whose --describe describes results files written "
                     "before they carried ipcmeter.schema (default: $IPCMETER_BIN, else "
                     "build/ipcmeter of this repository; without either, the scripts' "
                     "pre-schema table)")


def add_ipcmeter_bin(parser) -> None:
    parser.add_argument("--ipcmeter-bin", metavar="BIN", help=IPCMETER_BIN_HELP)
