"""The ecgmtl command line (typer). Commands only parse arguments and call the library."""
