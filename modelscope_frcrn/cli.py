"""Command line: ``modelscope-frcrn {denoise,prepare-dns,evaluate,serve,...}``
(also ``python -m modelscope_frcrn``).

A thin layer: it parses arguments, calls the library, and turns our errors
into one line on stderr and a non-zero exit code.
"""
import argparse
import sys
from typing import List, Optional

from . import serve
from .data import prepare_dns
from .errors import FRCRNError
from .evaluation import evaluate
from .inference import batch, onnx_export

EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except FRCRNError as error:
        print(f'modelscope-frcrn: error: {error}', file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print('modelscope-frcrn: interrupted (finished outputs are kept, none is partial)',
              file=sys.stderr)
        return EXIT_INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='modelscope-frcrn',
        description='FRCRN speech noise suppression (16 kHz) for ModelScope.')
    commands = parser.add_subparsers(required=True, metavar='COMMAND')
    batch.add_parser(commands)
    prepare_dns.add_parser(commands)
    evaluate.add_parser(commands)
    serve.add_parser(commands)
    onnx_export.add_parser(commands)
    return parser

