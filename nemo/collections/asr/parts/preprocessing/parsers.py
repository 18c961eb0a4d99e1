"""Character parsers for ASR datasets (implemented in `nemo.collections.common.parts.preprocessing.parsers`)."""

from nemo.collections.common.parts.preprocessing.parsers import (  # noqa: F401
    NAME_TO_PARSER,
    CharParser,
    ENCharParser,
    RUCharParser,
    make_parser,
)
