"""File transfers: make a dataset's remote files available locally (and upload).

- :mod:`alink.transfer.link`: symlinks, when the storage is mounted here.
- :mod:`alink.transfer.copy`: copies or hard links (and uploads by copying).
- :mod:`alink.transfer.select`: the first of several transfers that connects.
"""
