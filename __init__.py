"""mesaprobe: search-in-map vs cross-time goal optimization, probed with linear and causal probes."""

__version__ = "0.1.0"
