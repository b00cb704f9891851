"""`python -m socialsched.cli`, as `python -m socialsched`."""

from socialsched.cli import main

main(prog_name="socialsched")
