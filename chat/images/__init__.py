"""Images in messages, one module per job:

- ``views``: the upload, its job's status and retry, and ``/media/``;
- ``imaging``: what Pillow does, checking an upload and drawing its thumbnail;
- ``metadata``: an original's EXIF, GPS and other metadata removed, losslessly;
- ``thumbnails``: the ``chat.thumbnail`` job, and the sweep for lost jobs.
"""
