"""The git source: one repository (local or remote) read at a commit through gitpython, with a
per-user cache of clones. Its faces are ``source.GitSource`` and ``remote_head.RemoteHead``."""
