"""The NeMo logger: `[NeMo I 2025-01-02 03:04:05 module:123] message` on stderr."""

import logging as _logging
import sys

_LEVEL_INITIAL = {"DEBUG": "D", "INFO": "I", "WARNING": "W", "ERROR": "E", "CRITICAL": "C"}


class _NeMoFormatter(_logging.Formatter):
    def format(self, record: _logging.LogRecord) -> str:
        record.level_initial = _LEVEL_INITIAL.get(record.levelname, record.levelname[:1])
        return super().format(record)


def _build_logger() -> _logging.Logger:
    logger = _logging.getLogger("nemo_logger")
    if not logger.handlers:
        handler = _logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            _NeMoFormatter(
                "[NeMo %(level_initial)s %(asctime)s %(module)s:%(lineno)d] %(message)s",
                datefmt="%Y-%m-%d %H:%M:%S",
            )
        )
        logger.addHandler(handler)
        logger.setLevel(_logging.INFO)
        logger.propagate = False
    return logger


logging = _build_logger()
