"""Errors of the local service stack."""


class StackError(RuntimeError):
    """A service of the local stack could not be installed, started, checked or stopped."""


class MissingToolError(StackError):
    """A program needed to obtain or run a service (java, mvn, go) is not on PATH."""
