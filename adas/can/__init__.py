"""The CAN layer of the in-vehicle runtime, in one place.

* :mod:`adas.can.config`: the ``[can]`` section (:class:`CanConfig`);
* :mod:`adas.can.dbc`: the DBC and the bus (:func:`load_dbc`, :func:`dbc_message`,
  :func:`open_bus`, :data:`SHIPPED_DBC`, :func:`require_can_extra`);
* :mod:`adas.can.e2e`: AUTOSAR E2E profile 1 style protection (CRC-8 and counter);
* :mod:`adas.can.output`: the ``ADAS_Command`` / ``ADAS_Status`` frames (:class:`CanOutput`);
* :mod:`adas.can.ego`: the ego state from the vehicle's frames (:class:`CanEgoReader`);
* :mod:`adas.can.log`: logs decoded back into rows (:func:`decode_log`; ``adas can
  decode LOGFILE``).

python-can and cantools (the ``can`` extra) are imported only where frames are built or read,
so importing this package and loading the configuration work without them.
"""

from adas.can.config import EGO_SIGNALS, LOG_SUFFIXES, CanConfig
from adas.can.dbc import (
    COMMAND_MESSAGE,
    SHIPPED_DBC,
    STATUS_MESSAGE,
    dbc_message,
    load_dbc,
    open_bus,
    require_can_extra,
)
from adas.can.e2e import E2EReceiver, E2EStatus, crc_ok, protect
from adas.can.ego import CanEgoReader
from adas.can.log import decode_log, format_row
from adas.can.output import CanOutput

__all__ = [
    "COMMAND_MESSAGE",
    "EGO_SIGNALS",
    "LOG_SUFFIXES",
    "SHIPPED_DBC",
    "STATUS_MESSAGE",
    "CanConfig",
    "CanEgoReader",
    "CanOutput",
    "E2EReceiver",
    "E2EStatus",
    "crc_ok",
    "dbc_message",
    "decode_log",
    "format_row",
    "load_dbc",
    "open_bus",
    "protect",
    "require_can_extra",
]
