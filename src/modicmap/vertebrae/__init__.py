"""Vertebral bodies: segmentation network, instances, level names from the sacrum."""
