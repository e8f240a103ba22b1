"""Benchmark suite: beamlike against raw gevent and Erlang/OTP. See bench/README.md."""
