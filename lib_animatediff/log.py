"""The extension's one logger; every message carries the ``[AnimateDiff]`` prefix."""

import logging

logger = logging.getLogger("animatediff")
logger.propagate = False

if not logger.handlers:
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("[AnimateDiff] %(levelname)s: %(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO)
