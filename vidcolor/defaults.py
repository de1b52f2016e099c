"""Defaults that the command line shows in ``--help``, importable without torch.

``vidcolor --help`` and the ``frames`` commands never load torch (about 2 s and
0.8 GB); the modules that need torch import it themselves.
"""

DEFAULT_MODEL = "compact"    # the shipped model: weights/compact.pt, no download needed
