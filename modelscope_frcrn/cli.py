"""Command line: ``modelscope-frcrn {denoise,prepare-dns,evaluate}`` (also ``python -m modelscope_frcrn``).

A thin layer: it parses arguments, calls the library, and turns our errors
into one line on stderr and a non-zero exit code.
"""
import argparse
import os
import sys
from typing import List, Optional

from .data import prepare_dns
from .errors import FRCRNError
from .evaluation import evaluate

EXIT_FAILURE = 1


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except FRCRNError as error:
        print(f'modelscope-frcrn: error: {error}', file=sys.stderr)
        return EXIT_FAILURE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='modelscope-frcrn',
        description='FRCRN speech noise suppression (16 kHz) for ModelScope.')
    commands = parser.add_subparsers(required=True, metavar='COMMAND')
    denoise = commands.add_parser(
        'denoise', help='remove noise from a speech recording',
        description='Remove noise from a speech recording and write a 16 kHz mono WAV.')
    denoise.add_argument('input', help='noisy audio file (WAV, FLAC, OGG; any sample rate)')
    denoise.add_argument('-o', '--output',
                         help='output WAV path (default: <input stem>_enhanced.wav beside it)')
    denoise.add_argument('--model', help='model directory or ModelScope model id '
                                         '(default: the model shipped with this package)')
    denoise.add_argument('--device', default='cpu', help='cpu or cuda (default: cpu)')
    denoise.add_argument('--overwrite', action='store_true',
                         help='replace the output file if it exists')
    denoise.set_defaults(run=_denoise)
    prepare_dns.add_parser(commands)
    evaluate.add_parser(commands)
    return parser


def _denoise(args: argparse.Namespace) -> int:
    from .inference import denoise_file

    output = args.output or os.path.splitext(args.input)[0] + '_enhanced.wav'
    denoise_file(args.input, output, model=args.model, device=args.device,
                 overwrite=args.overwrite)
    print(f'wrote {output}')
    return 0
