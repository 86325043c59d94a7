"""Synthetic lumbar-spine MRI with voxel ground truth, and lesions painted into real anatomy."""
