"""Analytics on the loaded data: views matching GitHub's dashboard numbers, and an HTML report.

from copilot_source.analytics import create_views
create_views(pipeline)  # after pipeline.run(...): (re)creates the views in its dataset
"""

from __future__ import annotations

from copilot_source.analytics.views import create_views, plan_views

__all__ = ["create_views", "plan_views"]
