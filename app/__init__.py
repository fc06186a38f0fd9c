"""Cratedigger: the app layer (command line, library, desktop UI) over the `model` package."""

__version__ = "0.1.0"
