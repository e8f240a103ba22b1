"""The kernel of beamlike: processes, mailboxes, exit signals, timers, the scheduler.

Private: import the public modules (``beamlike``, ``beamlike.process``...) instead. This
is the only place that talks to gevent and greenlet directly.
"""
