"""Voxel typing, endplate and disc-level grading, tables."""
