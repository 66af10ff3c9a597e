"""Entry point for ``python -m nlg_assistant.training``."""

from nlg_assistant.training.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
