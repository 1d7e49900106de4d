"""sleuth: deep-research assistants that search, do not guess, learn from corrections and tune their prompts."""

__version__ = "0.1.0"
