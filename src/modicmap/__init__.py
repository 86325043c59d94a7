"""modicmap: voxel-wise mapping and grading of Modic changes on lumbar-spine MRI.

Pipeline (Gao et al., ISMRM; see ``docs`` and ``README.md``): align T2 to T1,
segment and name the vertebral bodies, z-score T1/T2 within the bodies, detect
lesions with a 2-D V-Net on body crops, type every lesion voxel by the nearest
(T1 z, T2 z) centroid, and grade endplates and disc levels.
"""

__version__ = "0.1.0"
