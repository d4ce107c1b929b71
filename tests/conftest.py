"""Shared by every test module.

`hypothesis` is imported here, while pytest collects. Its pytest plugin would otherwise import it
at the session's end, and pytest rewrites the modules it imports: under CPython 3.11.7 that parse
can raise "AST constructor recursion depth mismatch" when other Python code runs during it, as the
finalizers of what Kafka tests leave behind do then (CPython gh-106905, fixed in 3.11.8), failing
a run whose tests all passed.
"""

import hypothesis  # noqa: F401
