"""Command-line tools: ``exodeepfinder <command>`` and the ``edf_<command>`` entry points.

Each command is a module with ``NAME``, a docstring (its help), ``add_arguments(parser)``,
``run(args)`` and ``main``; ``BATCH_PATHS`` lists the path options that ``--batch`` resolves
inside each subfolder. Modules import heavy libraries (torch) inside ``run`` so that help is fast.
"""
