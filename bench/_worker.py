"""Entry point of one benchmark OS process: ``python -m bench._worker IMPL CASE PARAMS_JSON``.

Patches the standard library with gevent before anything else is imported, runs one case
of one implementation (``beamlike`` or ``gevent``) and prints ``BENCH`` lines (see
``bench/_harness.py``). Started by ``bench/run.py`` and ``bench/million.py``; not meant to
be run by hand, although it works (e.g. ``python -m bench._worker gevent ring
'{"procs": 1000, "rounds": 100}' --repeat 3``).
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402

from bench import _harness  # noqa: E402

MODULES = {"beamlike": "bench.cases_beamlike", "gevent": "bench.cases_gevent"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench._worker")
    parser.add_argument("impl", choices=sorted(MODULES))
    parser.add_argument("case")
    parser.add_argument("params", type=json.loads)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--warmup", type=json.loads, default=None)
    args = parser.parse_args(argv)

    def body() -> None:
        module = importlib.import_module(MODULES[args.impl])
        _harness.run_repetitions(module.CASES[args.case], args.params, args.repeat, args.warmup)

    return _harness.run_worker(body)


if __name__ == "__main__":
    _harness.exit_now(main())
