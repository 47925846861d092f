"""Command-line interface: ``facecanvas COMMAND ...`` (see ``facecanvas --help``)."""
