"""Fixtures (``cluster``) and the functions peer nodes run by name (``funcs``,
``services``) for the tests of ``beamlike.dist``."""
