"""Write the U-Net as a bioimage.io model package (a zip, model description spec 0.5).

The package holds the network as a PyTorch state dict (with its architecture file) and as
TorchScript, a simulated test movie with the model's output for it, the per-frame normalisation
as bioimage.io preprocessing, documentation, a cover image and the citation of the ExoDeepFinder
paper. bioimage.io tools (for example bioimageio.core) then run the model without this
package. Check the package with: bioimageio test OUTPUT.zip. Needs the optional dependencies:
pip install 'exodeepfinder-torch[bioimageio]'.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError
from ._common import add_overwrite_argument, check_output, run_command, weights_argument

NAME = "export_bioimageio"
BATCH_PATHS = None


def add_arguments(parser):
    from ..model.bioimageio import DEFAULT_AUTHORS, DEFAULT_NAME

    parser.add_argument("output", type=Path, help="the package to write (.zip)")
    parser.add_argument("-mw", "--model_weights", type=weights_argument, default=None,
                        help="U-Net weights: a .h5 file (Keras layout), 'bundled' or 'official'; default: "
                             "$EXODEEPFINDER_WEIGHTS, the official weights in the user cache, or the bundled model")
    parser.add_argument("--name", default=DEFAULT_NAME,
                        help="name of the model on bioimage.io (5 to 128 letters, digits, spaces or _+-())")
    parser.add_argument("--author", action="append", dest="authors", default=argparse.SUPPRESS, metavar="NAME",
                        help=f"author of the package; repeat for several (default: {', '.join(DEFAULT_AUTHORS)})")
    add_overwrite_argument(parser)


def run(args):
    from ..model.bioimageio import DEFAULT_AUTHORS, export_bioimageio
    from ..model.weights import resolve_weights
    from ..progress import TqdmProgress

    output = check_output(args.output, args)
    weights, source = resolve_weights(args.model_weights)
    print(f"exporting the U-Net with weights {weights} ({source}) to {output}", flush=True)
    progress = TqdmProgress("exporting", unit="step")
    try:
        export_bioimageio(output, args.model_weights, name=args.name, authors=getattr(args, "authors", DEFAULT_AUTHORS),
                          overwrite=args.overwrite, progress=progress)
    except ImportError as err:
        raise InputError(str(err)) from None
    finally:
        progress.close()
    print(f"wrote {output}; check it with: bioimageio test {output}")


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
