"""Real data: MovieLens loaders and users calibrated from real ratings."""

from adaptrec.data.movielens import (
    FORMATS,
    DataFormatError,
    RatingsData,
    detect_format,
    item_text,
    load_movielens,
)

__all__ = [
    "FORMATS",
    "DataFormatError",
    "RatingsData",
    "detect_format",
    "item_text",
    "load_movielens",
]
