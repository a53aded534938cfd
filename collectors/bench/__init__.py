"""The throughput benchmark (`flywheel bench`) and the expert success report."""
