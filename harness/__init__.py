"""clfs-harness: runs YAML scenarios against the Windows CLFS kernel API.

Layers, one package each, imported in one direction only (lower never imports higher):
``scenario`` -> ``protocol`` -> ``driver`` / ``vm`` / ``guest`` -> ``targets`` -> ``verdict`` -> ``report``.
"""

__version__ = "0.1.0"
