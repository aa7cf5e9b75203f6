"""The registry's domain: subject states and the verdict policy (``policy``), the check service
(``checks``), freezes, thaws and subject reports (``subjects``), the hash-chained audit log
(``audit``), owner alerts and their delivery (``alerts``) and sealed contacts (``contacts``).

It imports no web framework and no database driver: the store (:mod:`verrou.store`) implements
the protocols these modules are typed with, and the API and the CLI call them.
"""
