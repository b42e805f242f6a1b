"""Pure logic of the control plane: no I/O, so it reads like the spec and tests without a
runtime."""
