"""``python -m elixirchain.shell``: the entry point, which patches before anything runs."""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402

from elixirchain.shell import main  # noqa: E402

sys.exit(main())
