"""The light mailer: lists, templates, campaigns whose every return can be attributed.

Outbound half of the return-path loop (SPEC sections 3 and 7). See
docs/mailer.md for the commands and the ``[mailer]`` configuration.
"""
