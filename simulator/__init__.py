"""A synthetic consumer business that emits realistic, dirty source exports (demo, tests, benchmarks)."""

from simulator.exports import DefectRates, SimulationConfig, simulate

__all__ = ["DefectRates", "SimulationConfig", "simulate"]
