"""Coverage of the documented CLFS routines and the model's rules by scenario cases (clfs-harness coverage)."""
