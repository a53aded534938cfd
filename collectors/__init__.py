"""(see DESIGN.md)

`collect` (Ray-parallel collection into a dataset) and `replay` (re-simulate stored episodes) are the
package's entry points; both import Ray only when called.
"""
from flywheel.collectors.collect import CollectError, CollectInterrupted, CollectSummary, collect
from flywheel.collectors.replay import ReplayError, ReplayReport, replay

__all__ = ["CollectError", "CollectInterrupted", "CollectSummary", "ReplayError", "ReplayReport", "collect", "replay"]
