"""File transfers: make a dataset's remote files available locally (and upload).

- :mod:`alink.transfer.link`: symlinks, when the storage is mounted here.
"""
