"""Wiring, runtimes and the command line of undersign."""
