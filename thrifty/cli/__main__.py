"""`python -m thrifty.cli`: the same as the `thrifty` command."""

from thrifty.cli import main

main()
