"""Runs json_repair (PyPI) on FILE, writes the repaired JSON to OUT, prints seconds=."""

import sys
import time

from json_repair import repair_json


def main() -> None:
    src, dst = sys.argv[1], sys.argv[2]
    # what a caller does with a file of unknown quality: decode, replacing invalid bytes
    text = open(src, "rb").read().decode("utf-8", errors="replace")
    start = time.perf_counter()
    try:
        out = repair_json(text)
    except Exception as e:  # a peer failing is a result, not a crash of the harness
        print(f"error: {e!r}", file=sys.stderr)
        out = ""
    seconds = time.perf_counter() - start
    with open(dst, "w", encoding="utf-8") as f:
        f.write(out if isinstance(out, str) else "")
    print(f"seconds={seconds}", file=sys.stderr)


main()
