"""What bf16 (and the onnx backend) cost in quality: same model, same pairs, fp32 as reference.

For every noisy/clean pair (default: the held-out test asset; or a folder pair
such as the held-out set of ``benchmarks/quality.py``), the noisy file is
enhanced by the shipped default model (or ``--model``) with each enhancer, in
one pass at the model's input level, and scored against the clean reference:
WB-PESQ and SI-SNR; and each output against the fp32 output: SI-SNR (how far the
reduced-precision output is from the fp32 one) and max abs difference.

    python benchmarks/precision_quality.py --noisy /tmp/heldout/test/noisy \\
        --clean /tmp/heldout/test/clean --json benchmarks/precision_quality.json
"""
import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from modelscope_frcrn.audio import normalising_gain  # noqa: E402
from modelscope_frcrn.evaluation import pair_folders  # noqa: E402
from modelscope_frcrn.evaluation.evaluate import load_signal  # noqa: E402
from modelscope_frcrn.evaluation.metrics import pesq_wb, si_snr  # noqa: E402
from modelscope_frcrn.inference import build_enhancer  # noqa: E402
from modelscope_frcrn.inference.loading import load_model  # noqa: E402

ENHANCERS = {'fp32': {}, 'bf16': {'precision': 'bf16'}, 'onnx': {'backend': 'onnx'}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--noisy', help='folder of noisy files (default: the held-out test asset)')
    parser.add_argument('--clean', help='folder of clean references')
    parser.add_argument('--model', help='model directory or id (default: the shipped model)')
    parser.add_argument('--json', default=str(REPO_ROOT / 'benchmarks' / 'precision_quality.json'))
    args = parser.parse_args(argv)
    if args.noisy:
        pairs = [(pair[0], pair[1]) for pair in pair_folders(args.noisy, args.clean)]
    else:
        assets = REPO_ROOT / 'tests' / 'assets'
        pairs = [(assets / 'heldout_noisy.wav', assets / 'heldout_clean.wav')]
    model = load_model(args.model)
    enhancers = {name: build_enhancer(model, **kwargs) for name, kwargs in ENHANCERS.items()}
    rows = []
    for noisy_path, clean_path in pairs:
        noisy, clean = load_signal(noisy_path), load_signal(clean_path)
        gain = normalising_gain(noisy[None]).astype(np.float32)
        outputs = {name: enhance((noisy[None] * gain).astype(np.float32))[0] / gain[0, 0]
                   for name, enhance in enhancers.items()}
        row = {'noisy': Path(noisy_path).name, 'pesq_wb_noisy': pesq_wb(clean, noisy)}
        for name, output in outputs.items():
            row[f'pesq_wb_{name}'] = pesq_wb(clean, output)
            row[f'si_snr_{name}'] = si_snr(output, clean)
            if name != 'fp32':
                row[f'si_snr_{name}_vs_fp32'] = si_snr(output, outputs['fp32'])
                row[f'max_abs_diff_{name}_vs_fp32'] = float(np.abs(output - outputs['fp32']).max())
        rows.append(row)
        print(json.dumps(row), flush=True)
    keys = [key for key in rows[0] if key != 'noisy']
    means = {key: statistics.fmean(row[key] for row in rows) for key in keys}
    means.update({f'min_{key}': min(row[key] for row in rows) for key in keys if 'vs_fp32' in key})
    report = {'model': args.model or 'default', 'pairs': len(rows), 'means': means, 'rows': rows}
    Path(args.json).write_text(json.dumps(report, indent=2) + '\n')
    print('| enhancer | WB-PESQ | SI-SNR dB | SI-SNR vs fp32 dB (mean / min) | max abs diff vs fp32 |')
    print('|---|---|---|---|---|')
    print(f"| noisy | {means['pesq_wb_noisy']:.3f} | - | - | - |")
    for name in ENHANCERS:
        versus = ('-' if name == 'fp32' else f"{means[f'si_snr_{name}_vs_fp32']:.1f} / "
                  f"{means[f'min_si_snr_{name}_vs_fp32']:.1f}")
        difference = '-' if name == 'fp32' else f"{means[f'max_abs_diff_{name}_vs_fp32']:.1e}"
        print(f"| {name} | {means[f'pesq_wb_{name}']:.3f} | {means[f'si_snr_{name}']:.2f} | "
              f'{versus} | {difference} |')
    print(f'wrote {args.json} ({len(rows)} pairs)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
