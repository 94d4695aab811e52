"""Events: label maps to event lists (clustering), event lists to label maps (targets),
measurements of each event in the movie, their scores, evaluation against a reference list, and the review
states of a corrected list."""

from .cluster import cluster_events
from .evaluate import bootstrap_pooled, match_events, pooled_summary, precision_recall_curve
from .measure import event_trace, measure_events
from .review import most_uncertain_order, progress_text, reference_events, review_counts, review_states
from .score import score_events
from .targets import events_to_labels

__all__ = ["bootstrap_pooled", "cluster_events", "event_trace", "events_to_labels", "match_events", "measure_events",
           "most_uncertain_order", "pooled_summary", "precision_recall_curve", "progress_text", "reference_events",
           "review_counts", "review_states", "score_events"]
