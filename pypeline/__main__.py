"""`python -m pypeline` runs the CLI."""
from pypeline.cli import main

main()
