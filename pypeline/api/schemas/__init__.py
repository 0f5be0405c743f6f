"""Marshmallow schemas of request bodies, query strings and responses, one module per resource.

They also make the OpenAPI document.
"""
from __future__ import annotations

from pypeline.api.schemas.batches import (
    BatchResumeBodySchema,
    BatchRunPageSchema,
    BatchRunQuerySchema,
    BatchRunSchema,
    BatchSchema,
    BatchStartBodySchema,
    ChunkQuerySchema,
    ChunkSchema,
)
from pypeline.api.schemas.common import ErrorSchema, page_of
from pypeline.api.schemas.config import (
    ConfigGraphSchema,
    ConfigIssueSchema,
    ConfigValidateBodySchema,
    ConfigValidateSchema,
)
from pypeline.api.schemas.health import HealthSchema, ReadinessSchema
from pypeline.api.schemas.pipelines import (
    InvokeBodySchema,
    InvokeResponseSchema,
    PipelineNodeSchema,
    PipelineSchema,
    ResultSchema,
)
from pypeline.api.schemas.runs import (
    EventBodySchema,
    EventCreatedSchema,
    EventSchema,
    LogChunkSchema,
    LogPageSchema,
    LogQuerySchema,
    NodeRunSchema,
    NotificationAttemptSchema,
    RunDetailSchema,
    RunPageSchema,
    RunQuerySchema,
    RunSchema,
)
from pypeline.api.schemas.schedules import (
    BackfillBodySchema,
    BackfillSchema,
    BackfillSlotSchema,
    FireQuerySchema,
    FireSchema,
    ScheduleBodySchema,
    ScheduleConfigBodySchema,
    ScheduleSchema,
)

__all__ = [
    "ErrorSchema",
    "page_of",
    "InvokeBodySchema",
    "InvokeResponseSchema",
    "ResultSchema",
    "PipelineNodeSchema",
    "PipelineSchema",
    "RunQuerySchema",
    "NodeRunSchema",
    "RunSchema",
    "NotificationAttemptSchema",
    "RunDetailSchema",
    "LogQuerySchema",
    "LogChunkSchema",
    "LogPageSchema",
    "RunPageSchema",
    "EventBodySchema",
    "EventSchema",
    "EventCreatedSchema",
    "HealthSchema",
    "ReadinessSchema",
    "ScheduleConfigBodySchema",
    "ScheduleBodySchema",
    "ScheduleSchema",
    "FireSchema",
    "BackfillBodySchema",
    "BackfillSlotSchema",
    "BackfillSchema",
    "FireQuerySchema",
    "BatchSchema",
    "BatchStartBodySchema",
    "BatchResumeBodySchema",
    "BatchRunSchema",
    "BatchRunPageSchema",
    "BatchRunQuerySchema",
    "ChunkSchema",
    "ChunkQuerySchema",
    "ConfigValidateBodySchema",
    "ConfigIssueSchema",
    "ConfigGraphSchema",
    "ConfigValidateSchema",
]
