"""The review domain: organisations, users, submissions, reviews, their state machine and their clock."""

from airlock.review.deadline import ClockReading, ClockStatus, read_clock
from airlock.review.directory import Directory
from airlock.review.lifecycle import TRANSITIONS, ReviewState, Transition
from airlock.review.reviews import Reviews
from airlock.review.submissions import ConfidentialityMarking, SubmissionRequest, Submissions
from airlock.review.views import (
    ClockView,
    DeploymentView,
    EventView,
    OrganisationView,
    ReviewDetail,
    ReviewSummary,
    UserView,
)

__all__ = [
    "TRANSITIONS",
    "ClockReading",
    "ClockStatus",
    "ClockView",
    "ConfidentialityMarking",
    "DeploymentView",
    "Directory",
    "EventView",
    "OrganisationView",
    "ReviewDetail",
    "ReviewState",
    "ReviewSummary",
    "Reviews",
    "SubmissionRequest",
    "Submissions",
    "Transition",
    "UserView",
    "read_clock",
]
