"""Vertebral-body z-scores and lesion detection."""
