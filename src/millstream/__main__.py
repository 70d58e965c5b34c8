"""``python -m millstream`` runs the CLI."""

from millstream.cli import main

if __name__ == "__main__":
    main()
