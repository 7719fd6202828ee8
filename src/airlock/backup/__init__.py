"""Backup, restore and key custody: lose nothing, resurrect nothing (docs/backup.md).

* :mod:`~airlock.backup.create`: one signed archive of a serving deployment, holding wrapped keys only;
* :mod:`~airlock.backup.verify`: its signature and digests, checked with the public audit key alone;
* :mod:`~airlock.backup.restore`: into an empty home, replaying the shred ledger before the deployment serves;
* :mod:`~airlock.backup.custody`: the master key as N shares, any K of which recover it.

Nothing is imported here: a command loads only the module it uses.
"""
