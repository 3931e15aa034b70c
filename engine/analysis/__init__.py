"""What a folder of images is like, before anything trains on it (``hatchery analyze``)."""
