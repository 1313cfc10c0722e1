"""The light mailer: lists, templates, campaigns whose every return can be attributed.

Outbound half of the return-path loop (docs/return-path-spec.md). See
docs/mailer.md for the commands and the ``[mailer]`` configuration.
"""
