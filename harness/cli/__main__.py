"""`python -m harness.cli ...`, which `accelerate launch -m harness.cli train ...` runs on every GPU."""

from harness.cli import cli

cli(prog_name="harness")
