"""argparse types for every number and device a user types: a bad value is refused with a reason
before anything runs (argparse prints it with the usage line and exits with code 2)."""

from __future__ import annotations

import argparse
import math
import re
from typing import Callable

DEVICE_FORMS = "cpu, cuda, cuda:N or mps"
_DEVICE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


def _number(text: str, kind: type) -> int | float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a {'whole number' if kind is int else 'number'}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def integer(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """A whole number in [low, high] (either bound may be open)."""
    def parse(text: str) -> int:
        value = _number(text, int)
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}" if high is None else f"must be from {low} to {high}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}" if low is None else f"must be from {low} to {high}")
        return value
    parse.__name__ = "whole number"
    return parse


def real(low: float | None = None, high: float | None = None, low_open: bool = False,
         high_open: bool = False) -> Callable[[str], float]:
    """A finite number between low and high (bounds included unless *_open)."""
    def parse(text: str) -> float:
        value = _number(text, float)
        below = low is not None and (value <= low if low_open else value < low)
        above = high is not None and (value >= high if high_open else value > high)
        if below or above:
            raise argparse.ArgumentTypeError(_range_words(low, high, low_open, high_open))
        return value
    parse.__name__ = "number"
    return parse


def _range_words(low, high, low_open, high_open) -> str:
    if high is None:
        return f"must be {'more than' if low_open else 'at least'} {low:g}"
    if low is None:
        return f"must be {'less than' if high_open else 'at most'} {high:g}"
    return (f"must be between {low:g} and {high:g}"
            + ("" if not (low_open or high_open) else f" ({'excluding' if low_open and high_open else 'not'} "
               f"{' and '.join(str(b) for b, o in ((low, low_open), (high, high_open)) if o)})"))


count = integer(1)  # how many of something: at least one
unit = real(0.0, 1.0)  # a fraction from 0 to 1
fraction = real(0.0, 1.0, low_open=True, high_open=True)  # strictly between 0 and 1
positive = real(0.0, low_open=True)
non_negative = real(0.0)


def device(text: str) -> str:
    """A torch device name; whether it is there is checked when it is used (model/device.py)."""
    if not _DEVICE.match(text.strip().lower()):
        raise argparse.ArgumentTypeError(f"unknown device {text!r}: {DEVICE_FORMS}")
    return text.strip().lower()
