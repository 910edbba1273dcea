"""``python -m tests.tiny_models DIR``, as the README has it: the tiny-model builders live in
``devtools.tiny_models``; this name runs them and hands their names on."""

from devtools.tiny_models import *  # noqa: F401,F403
from devtools.tiny_models import main

if __name__ == "__main__":
    main()
