"""``modicmap pacs``: studies from a DICOMweb node in, DICOM SEG and SR of the findings out."""
