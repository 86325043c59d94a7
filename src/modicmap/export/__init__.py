"""Exports for other software (DICOM SEG)."""
