"""(see DESIGN.md)

`collect` (Ray-parallel collection into a dataset) and `replay` (re-simulate stored episodes) are the
package's entry points; both import Ray only when called.
"""
from flywheel.collectors.collection.collect import collect
from flywheel.collectors.collection.config import CollectConfig, CollectError, CollectInterrupted, CollectSummary
from flywheel.collectors.collection.replay import ReplayError, ReplayReport, replay

__all__ = ["CollectConfig", "CollectError", "CollectInterrupted", "CollectSummary", "ReplayError", "ReplayReport", "collect", "replay"]
