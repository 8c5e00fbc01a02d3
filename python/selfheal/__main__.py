"""``python -m selfheal ARGS``: runs the selfheal binary with ARGS (the one
:func:`selfheal.find_binary` finds), for an interpreter whose scripts directory is not on
``PATH``."""

import os
import sys

from selfheal import SelfhealError, find_binary


def main():
    try:
        binary = find_binary()
    except SelfhealError as e:
        print(f"selfheal: {e}", file=sys.stderr)
        return 8
    os.execv(binary, [binary, *sys.argv[1:]])
    return 8


if __name__ == "__main__":
    sys.exit(main())
