"""Pre-train, distil and evaluate the house story model (a small Llama) on the local corpus.

Run as ``python -m nlg_assistant.training <command> ...``; see ``cli.py`` for the commands.
Nothing here runs at import time.
"""
