"""Datasets, their on-disk caches and where the PhysioNet folders are."""
