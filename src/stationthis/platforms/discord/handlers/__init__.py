"""Interaction handlers: each turns one command, button, select or modal into workflow calls
and completes the deferred response. ``COMMANDS`` says how each command is acknowledged."""
