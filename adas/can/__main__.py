"""``python -m adas.can decode LOGFILE``: print a CAN log decoded with the DBC (see
:mod:`adas.can.log`)."""

import sys

from adas.can.log import main

sys.exit(main())
