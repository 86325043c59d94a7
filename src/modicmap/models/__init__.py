"""Model bundles: a folder of ``.safetensors`` weights plus one ``modicmap.json``."""
