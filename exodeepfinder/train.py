"""``python -m exodeepfinder.train``: the ``edf_train`` command, for launchers that start Python modules.

Several GPUs, one process each (DistributedDataParallel)::

    torchrun --nproc_per_node 4 -m exodeepfinder.train -d dataset -o run

takes the options of ``edf_train`` (see ``edf_train --help`` and
:mod:`exodeepfinder.training.distributed`). The function is :func:`exodeepfinder.training.train`.
"""

import sys
import types

from .cli.train import main


class _TrainModule(types.ModuleType):
    # Importing this module makes ``exodeepfinder.train`` (the function of the package's API) this
    # module: calling it still trains, with the function's arguments.
    def __call__(self, *args, **kwargs):
        from .training import train

        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _TrainModule

if __name__ == "__main__":
    sys.exit(main())
