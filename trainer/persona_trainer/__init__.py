"""Persona bot trainer: LoRA/QLoRA persona jobs over HTTP."""
import os as _os

# OpenMP threads that spin while waiting collapse on a shared CPU (measured here: a forward pass
# 6x slower with 2 spinning threads beside other busy processes); passive waiting costs ~nothing
# when the CPU is free. Must be set before torch is imported.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
