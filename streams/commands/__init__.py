"""Implementations behind ``streamrec`` sub-commands; ``streams.cli`` only parses arguments."""
