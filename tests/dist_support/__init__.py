"""Functions that peer nodes run by name in tests/test_dist_nodes.py."""
