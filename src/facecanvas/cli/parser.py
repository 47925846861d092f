"""The CLI's argument parser: a usage mistake is one line, like every other error."""

from __future__ import annotations

import argparse
import sys


class Parser(argparse.ArgumentParser):
    """argparse's parser whose errors are one line naming the command and pointing at its --help,
    instead of the multi-line usage block (subcommand parsers inherit it)."""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        from ..media.names import one_line

        try:
            print(one_line(f"{self.prog}: error: {message} (see `{self.prog} --help`)"), file=sys.stderr)
        except (OSError, ValueError):
            pass
        self.exit(2)
