"""The ``airlock`` command line: a thin front end over the services in :mod:`airlock.app`."""
