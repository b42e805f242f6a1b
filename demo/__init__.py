"""`python -m demo` (make demo): the control plane's main job on the embedded default."""
