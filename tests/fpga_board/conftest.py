"""The PYNQ driver tests need pynq, which lives in a venv of its own (it pins numpy < 2).

In an environment without pynq (the main ``.venv``) nothing here is collected; ``make test``
runs this folder separately in ``.venv-fpga``, where pynq is installed.
"""

from __future__ import annotations

import importlib.util

collect_ignore_glob = [] if importlib.util.find_spec("pynq") is not None else ["test_*.py"]
