"""``python -m service --workspace W [--workspace W2] [--host H] [--port P]``: the
service under uvicorn (the same as ``run.py serve``)."""

from __future__ import annotations

import argparse

from service.main import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    parser.add_argument("--workspace", "-w", action="append", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args(argv)
    serve(args.workspace, host=args.host, port=args.port, verbose=args.verbose)


if __name__ == "__main__":
    main()
