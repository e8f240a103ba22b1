"""Versions of a module for tests/test_code_upgrade.py.

They are never imported under these names: a test copies a version's text into a
temporary directory on ``sys.path`` under a module name of its own, imports it, starts
servers, then overwrites the file with the next version and calls ``code.upgrade``.
"""
