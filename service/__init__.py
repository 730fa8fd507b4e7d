"""The HTTP service: Slack review interactions, provider webhooks, inbound leads, health
and metrics, with the scheduler and the inbound worker running inside it.

Routes live in :mod:`service.app` and stay thin; the work is done by the functions in
:mod:`service.reviews` (Slack review cards and decisions), :mod:`service.inbound` (lead
intake and its worker) and :mod:`service.webhooks` (engagement events).
"""
