"""nlg-assistant: an interactive writing assistant that streams text from a causal LM."""

__version__ = "0.1.0"
