"""`python -m ecgmtl` is the `ecgmtl` command."""

from ecgmtl.cli.main import main

main()
